"""The documented deploy rehearsed against a local AWS (infra/rehearse.py, ``make
deploy-local``), and the AWS answer the local AWS gives differently.

The rehearsal runs as ``make deploy-local`` runs it, in a process of its own, on the
session's packages (tests/lambda_packages.py: built once, shared with test_package.py).
What it found is compared with zappa_settings.json and infra/template.yaml here, read
independently of the rehearsal's own checks.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.deploy import infra_stack_name, load_template
from tests.lambda_packages import lambda_package

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
ACCOUNT = "123456789012"


def zappa_stage(name: str) -> dict:
    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    config = dict(stages[name])
    parent = config.pop("extends", None)
    return {**zappa_stage(parent), **config} if parent else config


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> dict:
    for stage in (STAGE, f"{STAGE}-worker"):
        lambda_package(stage)
    out = tmp_path_factory.mktemp("rehearsal") / "findings.json"
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    process = subprocess.run(
        [sys.executable, "-m", "infra.rehearse", "--stage", STAGE, "--use-packages", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), process.stdout[-5000:] + process.stderr[-5000:]
    return {"findings": json.loads(out.read_text()), "output": process.stdout, "returncode": process.returncode}


@pytest.fixture(scope="module")
def functions(rehearsal) -> dict:
    return rehearsal["findings"]["observed"]["functions"]


def test_every_check_of_the_rehearsal_passes(rehearsal):
    failed = [line for line in rehearsal["output"].splitlines() if line.strip().startswith("FAILED")]
    assert rehearsal["returncode"] == 0 and not failed, rehearsal["output"]
    statuses = {check["status"] for check in rehearsal["findings"]["checks"]}
    assert statuses <= {"ok", "local AWS cannot"}


def test_both_functions_are_deployed_as_their_stages_say(functions):
    for name in (STAGE, f"{STAGE}-worker"):
        config = zappa_stage(name)
        function = functions[f"ops-console-{name}"]
        assert function["runtime"] == config["runtime"] == "python3.12"
        assert function["handler"] == config["lambda_handler"]
        assert (function["timeout"], function["memory"]) == (config["timeout_seconds"], config["memory_size"])
        assert function["role"] == f"arn:aws:iam::{ACCOUNT}:role/{config['role_name']}"
        assert function["reserved_concurrency"] == config.get("lambda_concurrency")
    assert functions[f"ops-console-{STAGE}-worker"]["timeout"] == 900
    assert functions[f"ops-console-{STAGE}-worker"]["reserved_concurrency"] == 10


def test_every_sqs_event_has_its_mapping_with_partial_batch_responses(functions):
    for name in (STAGE, f"{STAGE}-worker"):
        wanted = {
            (event["event_source"]["arn"], event["event_source"]["batch_size"])
            for event in zappa_stage(name)["events"]
            if event.get("event_source", {}).get("arn", "").startswith("arn:aws:sqs:")
        }
        mappings = functions[f"ops-console-{name}"]["mappings"]
        assert {(m["queue"], m["batch_size"]) for m in mappings} == wanted
        assert len(mappings) == len(wanted)
        # The post callback ran after each deploy.
        assert all("ReportBatchItemFailures" in m["function_response_types"] for m in mappings)
    worker = functions[f"ops-console-{STAGE}-worker"]["mappings"]
    assert any(m["queue"].endswith(f"-{STAGE}-jobs") and m["batch_size"] == 1 for m in worker)


def test_every_schedule_has_its_rule_target_and_permission_on_the_worker(functions):
    wanted = sorted(
        (event["function"], event["expression"])
        for event in zappa_stage(f"{STAGE}-worker")["events"]
        if "expression" in event
    )
    schedules = functions[f"ops-console-{STAGE}-worker"]["schedules"]
    assert sorted((s["function"], s["expression"]) for s in schedules) == wanted
    assert len(wanted) == 6
    for schedule in schedules:
        assert schedule["targets"] == [function_arn(f"ops-console-{STAGE}-worker")]
        assert schedule["state"] == "ENABLED" and schedule["permission"] is True
        # Zappa's handler finds the function after the rule name's last "-".
        assert schedule["rule"].rsplit("-", 1)[-1] == schedule["function"]
    assert functions[f"ops-console-{STAGE}"]["schedules"] == []


def test_only_the_api_function_has_a_rest_api(functions):
    (api,) = functions[f"ops-console-{STAGE}"]["rest_apis"]
    assert api["name"] == f"ops-console-{STAGE}" and STAGE in api["stages"]
    assert functions[f"ops-console-{STAGE}-worker"]["rest_apis"] == []


def test_zappas_check_of_the_new_api_was_answered_by_the_deployed_function(rehearsal):
    requests = rehearsal["findings"]["observed"]["gateway_requests"]
    assert requests and requests[0]["url"].endswith(f".execute-api.us-east-1.amazonaws.com/{STAGE}/")
    assert all(r["function"] == f"ops-console-{STAGE}" and r["status"] < 500 for r in requests)


def test_the_resources_stack_survives_zappas_stack(rehearsal):
    stacks = rehearsal["findings"]["observed"]["stacks"]
    resources = stacks[infra_stack_name(stage=STAGE)]
    queues = [r for r in load_template()["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    assert resources["status"] == "CREATE_COMPLETE" and len(resources["queues"]) == len(queues)
    zappas = stacks[f"ops-console-{STAGE}"]
    assert zappas["tags"]["ZappaProject"] == f"ops-console-{STAGE}"
    assert zappas["template_sha256"] != resources["template_sha256"]
    assert stacks[f"ops-console-{STAGE}-worker"] is None


def test_what_the_local_aws_cannot_do_is_covered_by_tests_that_exist(rehearsal):
    cannot = [check for check in rehearsal["findings"]["checks"] if check["status"] == "local AWS cannot"]
    assert cannot
    for check in cannot:
        named = [word.strip("(),") for word in check["covered_by"].split() if word.startswith(("tests/", "(tests/"))]
        assert named and all((ROOT / path).exists() for path in named), check


# --- AddPermission: moto answers 200, AWS 201 ----------------------------------------------


def test_aws_answers_add_permission_with_201():
    """botocore's model of Lambda's AddPermission: the success code Zappa checks for."""
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    assert client.meta.service_model.operation_model("AddPermission").http["responseCode"] == 201


@pytest.mark.parametrize(("status", "logged"), [(201, False), (200, True)])
def test_zappa_logs_a_permission_problem_only_on_an_answer_aws_does_not_give(status, logged, caplog):
    """With AWS's answer (201) Zappa's schedule permission goes through quietly; with moto's
    (200) Zappa logs "Problem creating permission" though the statement is stored."""
    from zappa.core import Zappa

    zappa = Zappa(load_credentials=False, aws_region="us-east-1")
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    zappa.lambda_client = boto3.client("lambda", **credentials)
    zappa.sts_client = boto3.client("sts", **credentials)
    rule_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/ops-console-dev-worker-ops.handlers.refresh"
    with Stubber(zappa.lambda_client) as lambda_stub, Stubber(zappa.sts_client) as sts_stub:
        sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT})
        lambda_stub.add_response(
            "add_permission",
            {"Statement": "{}", "ResponseMetadata": {"HTTPStatusCode": status}},
            {
                "FunctionName": "ops-console-dev-worker",
                "StatementId": ANY,
                "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com",
                "SourceArn": rule_arn,
                "SourceAccount": ACCOUNT,
            },
        )
        with caplog.at_level(logging.ERROR, logger="zappa.core"):
            zappa.create_event_permission("ops-console-dev-worker", "events.amazonaws.com", rule_arn)
    assert ("Problem creating permission" in caplog.text) is logged
