"""The deployable template: valid, encrypted, least privilege, and complete for what the code calls."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "infra" / "template.yaml"
ASL = ROOT / "pipeline" / "statemachine.asl.json"


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _tag)


def _template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def _resources() -> dict:
    return _template()["Resources"]


def _functions() -> dict:
    return {n: r for n, r in _resources().items() if r["Type"] == "AWS::Serverless::Function"}


def _as_list(v: object) -> list:
    return v if isinstance(v, list) else [v]


def test_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_data_store_is_encrypted():
    res = _resources()
    for name, r in res.items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::S3::Bucket":
            assert "BucketEncryption" in props, name
            assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True, name
        if r["Type"] == "AWS::SQS::Queue":
            assert "KmsMasterKeyId" in props, name
        if r["Type"] == "AWS::DynamoDB::Table":
            assert props["SSESpecification"]["SSEEnabled"] is True, name


# Actions IAM offers no resource type for: "*" is the only valid Resource, so a Condition must narrow it.
NO_RESOURCE_TYPE = {"redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"}


def test_function_policies_name_resources_not_wildcards():
    for name, r in _functions().items():
        for policy in r["Properties"]["Policies"]:
            for stmt in policy["Statement"]:
                assert not any("*" in a for a in _as_list(stmt["Action"])), (name, stmt)
                if stmt["Resource"] == "*":
                    assert set(stmt["Action"]) <= NO_RESOURCE_TYPE and stmt.get("Condition"), (name, stmt)


def test_event_source_mappings_report_partial_batch_failures():
    for name, fn in _functions().items():
        for ev in fn["Properties"].get("Events", {}).values():
            if ev["Type"] in ("SQS", "DynamoDB"):
                assert ev["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name


def test_a_schedule_runs_reconcile_so_lost_events_still_end_with_a_record():
    fn = _resources()["ReconcileFunction"]["Properties"]
    assert fn["Handler"] == "ingestion.reconcile.handler"
    assert [e["Type"] for e in fn["Events"].values()] == ["Schedule"]


# --- checkov -------------------------------------------------------------------------------------------
def _checkov() -> str:
    """checkov pins an older boto3 than the project, so it lives in its own venv (`make setup`)."""
    for candidate in (os.environ.get("CHECKOV_BIN"), str(ROOT / ".venv-checkov" / "bin" / "checkov"),
                      str(Path(sys.executable).parents[2] / ".venv-checkov" / "bin" / "checkov"), shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("checkov not found: run `make setup` (creates .venv-checkov) or set CHECKOV_BIN")


def test_template_passes_checkov_offline_with_every_skip_explained():
    # --skip-download: no policy/guideline download; the update check is off; a dead proxy makes
    # any attempt to phone home fail instead of silently succeeding.
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = subprocess.run([_checkov(), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download",
                             "--compact", "--quiet", "-o", "json"], capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert summary["parsing_errors"] == 0, result.stderr
    assert failed == [] and summary["failed"] == 0, failed
    assert summary["passed"] > 100 and summary["resource_count"] >= len(_resources())
    for name, r in _resources().items():
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]) and len(skip.get("comment", "")) > 30, (name, skip)


# --- the state machine and what it calls ------------------------------------------------------------
def _state_machine() -> dict:
    return _resources()["PipelineStateMachine"]["Properties"]


def _placeholders() -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))


def test_state_machine_uses_the_repo_definition_with_every_placeholder_substituted():
    sm = _state_machine()
    assert (TEMPLATE.parent / sm["DefinitionUri"]).resolve() == ASL
    assert set(sm["DefinitionSubstitutions"]) == _placeholders()
    resources = _resources()
    for key, value in sm["DefinitionSubstitutions"].items():
        target = value.get("GetAtt", value.get("Ref"))
        assert target.split(".")[0] in resources, (key, value)
        if key.endswith("FunctionArn"):
            assert value == {"GetAtt": f"{target.split('.')[0]}.Arn"}
            assert resources[target.split(".")[0]]["Type"] == "AWS::Serverless::Function"


def test_each_task_function_runs_the_handler_its_state_names():
    subs = _state_machine()["DefinitionSubstitutions"]
    fns = _functions()
    handlers = {key: fns[value["GetAtt"].split(".")[0]]["Properties"]["Handler"]
                for key, value in subs.items() if key.endswith("FunctionArn")}
    assert handlers == {
        "CrawlFunctionArn": "pipeline.tasks.crawl_handler", "PlanFunctionArn": "pipeline.tasks.plan_handler",
        "ValidateFunctionArn": "pipeline.tasks.validate_handler", "PublishFunctionArn": "pipeline.tasks.publish_handler",
        "LoadFunctionArn": "pipeline.tasks.load_handler", "FinishFunctionArn": "pipeline.tasks.finish_handler",
        "FailFunctionArn": "pipeline.tasks.fail_handler",
    }


def test_state_machine_role_invokes_exactly_the_task_functions_and_runs_only_the_validate_job():
    subs = _state_machine()["DefinitionSubstitutions"]
    assert _state_machine()["Role"] == {"GetAtt": "PipelineStateMachineRole.Arn"}
    stmts = {s["Sid"]: s for s in _resources()["PipelineStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    invoked = {r["GetAtt"] for r in stmts["InvokeTaskFunctions"]["Resource"]}
    assert invoked == {v["GetAtt"] for k, v in subs.items() if k.endswith("FunctionArn")}
    glue = stmts["ValidateJobSync"]
    assert set(glue["Action"]) == {"glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"}
    assert glue["Resource"]["Sub"].endswith(":job/${ValidateJob}")
    assert subs["ValidateJobName"] == {"Ref": "ValidateJob"}
    wildcard = [s for s in stmts.values() if s["Resource"] == "*"]
    assert {a.split(":")[0] for s in wildcard for a in s["Action"]} == {"logs", "xray"}


def test_state_machine_logs_and_traces():
    sm = _state_machine()
    assert sm["Tracing"] == {"Enabled": True}
    assert sm["Logging"]["Level"] == "ALL"
    group = sm["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["GetAtt"].split(".")[0]
    assert "KmsKeyId" in _resources()[group]["Properties"]


def test_glue_task_passes_only_arguments_the_job_reads():
    from glue_jobs.validate_job import OPTIONAL, REQUIRED

    asl = json.loads(ASL.read_text())
    args = asl["States"]["ValidateOnGlue"]["Parameters"]["Arguments"]
    names = {k.removesuffix(".$").removeprefix("--") for k in args}
    assert names <= set(REQUIRED) | set(OPTIONAL), names - set(REQUIRED) - set(OPTIONAL)
    assert set(REQUIRED) <= names
    defaults = _resources()["ValidateJob"]["Properties"]["DefaultArguments"]
    job_args = {k.removeprefix("--") for k in defaults if not k.startswith("--enable") and k[2:3].islower()}
    assert {"rules_table", "catalog_table", "lake_bucket"} <= job_args
    assert "output_path" not in job_args  # the job writes to the lake bucket itself


# --- every reference resolves ---------------------------------------------------------------------------
PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix", "AWS::NoValue"}


def _refs(node: object) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref":
                out.add(v)
            elif k == "GetAtt":
                out.add((v if isinstance(v, str) else v[0]).split(".")[0])
            elif k == "Sub":
                text = v if isinstance(v, str) else v[0]
                out |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text) if ":" not in m or m.startswith("AWS::")}
                if not isinstance(v, str):
                    out |= _refs(v[1])
            else:
                out |= _refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= _refs(v)
    return out


def test_every_ref_getatt_and_sub_names_a_resource_or_parameter():
    tpl = _template()
    known = set(tpl["Resources"]) | set(tpl["Parameters"]) | PSEUDO
    for section in ("Resources", "Outputs", "Globals"):
        for name, body in tpl.get(section, {}).items():
            missing = _refs(body) - known
            assert not missing, (section, name, missing)


def test_every_environment_variable_is_a_setting():
    from datalake_base.settings import Settings

    aliases = {a for f in Settings.model_fields.values() if f.validation_alias for a in f.validation_alias.choices}
    tpl = _template()
    env: dict[str, object] = dict(tpl["Globals"]["Function"]["Environment"]["Variables"])
    for fn in _functions().values():
        env.update(fn["Properties"].get("Environment", {}).get("Variables", {}))
    ours = {k for k in env if k.startswith("DATALAKE_")}
    assert ours - aliases == set()


def test_names_built_from_strings_match_the_resources_they_stand_for():
    """ARNs spelled out with !Sub (to avoid cycles) must name what the template creates."""
    tpl = _template()
    env = tpl["Globals"]["Function"]["Environment"]["Variables"]
    sm_name = _state_machine()["Name"]["Sub"]
    assert env["DATALAKE_STATE_MACHINE_ARN"]["Sub"].endswith(f":stateMachine:{sm_name}")
    assert env["DATALAKE_VALIDATE_JOB_NAME"]["Sub"] == _resources()["ValidateJob"]["Properties"]["Name"]["Sub"]
    assert env["DATALAKE_SCHEDULER_GROUP"]["Sub"] == _resources()["PipelineScheduleGroup"]["Properties"]["Name"]["Sub"]
    start_name = _resources()["PipelineStartFunction"]["Properties"]["FunctionName"]["Sub"]
    for name, fn in _functions().items():
        arn = fn["Properties"].get("Environment", {}).get("Variables", {}).get("DATALAKE_PIPELINE_START_FUNCTION_ARN")
        if arn:
            assert arn["Sub"].endswith(f":function:{start_name}"), name


# --- handlers resolve to real functions --------------------------------------------------------------
def _handler_params() -> list:
    return [pytest.param(fn["Properties"]["Handler"], id=f"{name}:{fn['Properties']['Handler']}")
            for name, fn in sorted(_functions().items())]


@pytest.mark.parametrize("handler", _handler_params())
def test_every_handler_path_resolves_to_a_python_function(handler: str):
    module, _, attr = handler.rpartition(".")
    fn = getattr(importlib.import_module(module), attr)
    assert callable(fn)


def test_trigger_is_a_second_catalog_stream_consumer_and_schedules_invoke_only_the_start_function():
    res = _resources()
    streams = [n for n, fn in _functions().items() for ev in fn["Properties"].get("Events", {}).values()
               if ev["Type"] == "DynamoDB" and ev["Properties"]["Stream"] == {"GetAtt": "CatalogTable.StreamArn"}]
    assert sorted(streams) == ["IndexerFunction", "PipelineTriggerFunction"]
    assert res["PipelineTriggerFunction"]["Properties"]["Handler"] == "pipeline.trigger.stream_handler"
    assert res["PipelineStartFunction"]["Properties"]["Handler"] == "pipeline.trigger.start_handler"
    role = res["SchedulerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    invoke = [s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if s["Action"] == ["lambda:InvokeFunction"]]
    assert [r.get("GetAtt") or r["Sub"] for r in invoke[0]["Resource"]] == [
        "PipelineStartFunction.Arn", "${PipelineStartFunction.Arn}:*"]
    start = res["PipelineStartFunction"]["Properties"]["Policies"][0]["Statement"]
    assert {"Action": ["states:StartExecution"], "Effect": "Allow", "Resource": {"Ref": "PipelineStateMachine"}} in start


# --- Redshift ---------------------------------------------------------------------------------------------
def test_redshift_is_created_unless_an_existing_workgroup_is_named():
    tpl = _template()
    assert tpl["Conditions"]["CreateRedshift"] == {"Equals": [{"Ref": "RedshiftWorkgroupName"}, ""]}
    res = tpl["Resources"]
    assert res["RedshiftNamespace"]["Condition"] == res["RedshiftWorkgroup"]["Condition"] == "CreateRedshift"
    ns = res["RedshiftNamespace"]["Properties"]
    assert ns["ManageAdminPassword"] is True and "AdminUserPassword" not in ns
    assert ns["DefaultIamRoleArn"] == {"GetAtt": "RedshiftCopyRole.Arn"}
    assert res["RedshiftWorkgroup"]["Properties"]["PubliclyAccessible"] is False
    env = res["LoadFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DATALAKE_WAREHOUSE"] == "redshift"
    assert env["DATALAKE_REDSHIFT_WORKGROUP"] == {"If": ["CreateRedshift", {"Ref": "RedshiftWorkgroup"},
                                                         {"Ref": "RedshiftWorkgroupName"}]}


def test_copy_role_reads_the_lake_decrypts_and_reads_the_glue_catalog_for_spectrum():
    role = _resources()["RedshiftCopyRole"]["Properties"]
    principals = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert "redshift.amazonaws.com" in principals
    stmts = role["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {a for s in stmts for a in s["Action"]}
    assert {"s3:GetObject", "s3:ListBucket", "kms:Decrypt", "glue:GetTable", "glue:GetPartitions"} <= actions
    assert not any(a.startswith(("s3:Put", "s3:Delete", "glue:Create", "glue:Update", "glue:Delete")) for a in actions)


# --- alarms -------------------------------------------------------------------------------------------------
def _alarms() -> dict:
    return {n: r["Properties"] for n, r in _resources().items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_function_has_an_errors_alarm():
    covered = {a["Dimensions"][0]["Value"]["Ref"] for a in _alarms().values()
               if a.get("Namespace") == "AWS/Lambda" and a["MetricName"] == "Errors"}
    assert covered == set(_functions())


def test_every_dead_letter_queue_has_a_depth_alarm():
    dlqs: set[str] = set()
    for r in _resources().values():
        props = r.get("Properties", {})
        if "RedrivePolicy" in props:
            dlqs.add(props["RedrivePolicy"]["deadLetterTargetArn"]["GetAtt"].split(".")[0])
        if r["Type"] == "AWS::Serverless::Function":
            if "DeadLetterQueue" in props:
                dlqs.add(props["DeadLetterQueue"]["TargetArn"]["GetAtt"].split(".")[0])
            for ev in props.get("Events", {}).values():
                dest = ev["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                if dest:
                    dlqs.add(dest["GetAtt"].split(".")[0])
    depth = {a["Dimensions"][0]["Value"]["GetAtt"].split(".")[0] for a in _alarms().values()
             if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"}
    assert dlqs and dlqs == depth


def test_failed_runs_alarm_on_the_state_machine_and_on_the_emf_metric():
    alarms = _alarms()
    sm_metrics = {m["MetricStat"]["Metric"]["MetricName"] for m in alarms["PipelineExecutionsFailedAlarm"]["Metrics"]
                  if "MetricStat" in m}
    assert "ExecutionsFailed" in sm_metrics
    emf = alarms["PipelineRunsFailedAlarm"]
    assert (emf["Namespace"], emf["MetricName"]) == ("DataLake", "PipelineRunsFailed")
    env = _template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == emf["Namespace"]


def test_alarms_notify_an_encrypted_topic():
    res = _resources()
    assert "KmsMasterKeyId" in res["AlarmTopic"]["Properties"]
    for name, a in _alarms().items():
        assert a["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
def test_catalog_app_runs_on_lambda_behind_an_http_api_with_a_cognito_authorizer():
    res = _resources()
    api = res["CatalogHttpApi"]["Properties"]["Auth"]
    jwt_config = api["Authorizers"]["CognitoAuthorizer"]["JwtConfiguration"]
    assert api["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert jwt_config["audience"] == [{"Ref": "CatalogUserPoolClient"}] and "cognito-idp" in jwt_config["issuer"]["Sub"]
    fn = res["CatalogAppFunction"]["Properties"]
    assert fn["Handler"] == "catalog.lambda_app.handler"
    events = fn["Events"]
    assert events["JsonApi"]["Properties"].get("Auth") is None  # the default: Cognito JWT
    for route in ("Ui", "UiRoot", "Docs", "OpenApi"):  # the app's own sessions
        assert events[route]["Properties"]["Auth"] == {"Authorizer": "NONE"}, route
    env = fn["Environment"]["Variables"]
    assert "CatalogUserPool" in env["DATALAKE_COGNITO_ISSUER"]["Sub"]
    assert "resolve:secretsmanager" in env["DATALAKE_API_TOKEN"]["Sub"]
    assert {g["Properties"]["GroupName"] for n, g in res.items() if g["Type"] == "AWS::Cognito::UserPoolGroup"} == {
        "admin", "editor", "reader"}
