"""Every import points down the house: base <- stages <- app (../shared/design/STYLE.md, "Layers").

The base (``datalake_base``) imports no project package; a stage imports the base and other stages,
never the app (``datalake``: CLI, local runtime, demo). Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = "datalake_base"
APP = "datalake"
STAGES = ("ingestion", "catalog", "quality_rules", "glue_jobs", "athena_queries", "warehouse", "pipeline")
PROJECT = (BASE, APP, *STAGES)


def imported_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return {(pkg, line) for pkg, line in found if pkg in PROJECT}


def upward_imports(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)}:{line} imports {pkg}"
            for p in sorted((ROOT / package).rglob("*.py"))
            for pkg, line in sorted(imported_packages(p)) if pkg in forbidden]


def test_base_imports_no_project_package():
    assert upward_imports(BASE, (APP, *STAGES)) == []


@pytest.mark.parametrize("stage", STAGES)
def test_stage_never_imports_the_app(stage):
    assert upward_imports(stage, (APP,)) == []


def test_the_walker_sees_an_upward_import(tmp_path):
    # The rule above must be able to fail: a lazy import of the app inside a function is found.
    pkg = tmp_path / "ingestion"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from datalake.cli import main\n    return main\n")
    assert imported_packages(pkg / "bad.py") == {("datalake", 2)}
