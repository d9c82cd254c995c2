# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov pins an older boto3 than the project, so it gets a venv of its own (tests/unit/infra finds it).
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: setup demo test test-fast lint package clean

$(STAMP): pyproject.toml requirements.lock scripts/check_prereqs.sh scripts/install_browser.sh
	@bash scripts/check_prereqs.sh $(PYTHON)
	@bash scripts/install_browser.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.lock
	@touch $(CHECKOV_STAMP)

setup: $(STAMP) $(CHECKOV_STAMP)

demo: setup
	$(BIN)/datalake demo

test: setup
	$(BIN)/python -m pytest tests

test-fast: setup
	$(BIN)/python -m pytest tests -m "not e2e and not spark"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV_VENV)/bin/checkov -f infra/template.yaml --framework cloudformation --skip-download --compact --quiet

# Glue job assets for AWS mode: the job script and a zip of the project's packages (--extra-py-files);
# the job's plan/outcome contract (quality_rules/job_io.py) and its S3 I/O (quality_rules/storage.py) are in the zip.
package: setup
	rm -rf dist && mkdir -p dist/glue_jobs
	cp glue_jobs/validate_job.py dist/glue_jobs/
	$(BIN)/python -c "import shutil, zipfile, pathlib; z = zipfile.ZipFile('dist/datalake.zip', 'w', zipfile.ZIP_DEFLATED); [z.write(p) for pkg in ('datalake_base', 'pipeline', 'ingestion', 'catalog', 'quality_rules', 'glue_jobs', 'athena_queries', 'warehouse') for p in pathlib.Path(pkg).rglob('*') if p.is_file() and '__pycache__' not in p.parts]; z.close()"
	@echo "upload: aws s3 cp dist/glue_jobs/validate_job.py s3://<lake-bucket>/_code/glue_jobs/ && aws s3 cp dist/datalake.zip s3://<lake-bucket>/_code/"

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .state
