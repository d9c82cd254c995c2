"""The deployable template: valid, encrypted, least privilege."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "infra" / "template.yaml"


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _tag)


def _resources() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Resources"]


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


def test_function_policies_name_resources_not_wildcards():
    for name, r in _resources().items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        for policy in r["Properties"]["Policies"]:
            for stmt in policy["Statement"]:
                assert "*" not in stmt["Action"], (name, stmt)
                assert stmt["Resource"] != "*", (name, stmt)


def test_event_source_mappings_report_partial_batch_failures():
    fns = {n: r for n, r in _resources().items() if r["Type"] == "AWS::Serverless::Function"}
    for name, fn in fns.items():
        for ev in fn["Properties"]["Events"].values():
            if ev["Type"] in ("SQS", "DynamoDB"):
                assert ev["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name


def test_a_schedule_runs_reconcile_so_lost_events_still_end_with_a_record():
    fn = _resources()["ReconcileFunction"]["Properties"]
    assert fn["Handler"] == "ingestion.reconcile.handler"
    assert [e["Type"] for e in fn["Events"].values()] == ["Schedule"]


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
