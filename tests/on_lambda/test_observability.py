"""Logs with correlation ids (JSON on Lambda, plain text locally), EMF metrics, traces."""

import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.stub import ANY, Stubber
from django.core.signals import got_request_exception

from console.aws import clients as aws
from console.devtools.local_consumer import LambdaContext
from console.platform import observability
from console.platform.context import set_request_id
from tests.workflows.test_approvals import make_approval
from workflows.approvals import approval_decide
from workflows.models import Approval


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(observability.CorrelationFilter())
    logger = logging.getLogger(f"test.observability.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_plain_lines_end_with_the_ids_in_effect():
    logger, stream = capture(observability.PlainFormatter("%(levelname)s %(message)s"))
    token = set_request_id("req-42")
    try:
        with observability.correlation(order_id="o-1"):
            with observability.correlation(approval_id=7, execution_arn=None):
                logger.info("decided")
            logger.info("after")
        logger.info("outside")
    finally:
        from console.platform.context import _request_id

        _request_id.reset(token)
    logger.info("no ids")

    assert stream.getvalue().splitlines() == [
        "INFO decided [request_id=req-42 order_id=o-1 approval_id=7]",
        "INFO after [request_id=req-42 order_id=o-1]",
        "INFO outside [request_id=req-42]",
        "INFO no ids",
    ]


def test_json_lines_carry_the_ids_and_the_invocation():
    logger, stream = capture(observability.json_formatter(service="ops-console-dev"))
    context = LambdaContext("ops-console-dev")

    with observability.invocation(context):
        with observability.correlation(order_id="o-1", execution_arn="arn:aws:states:x:order-o-1"):
            logger.warning("step failed", extra={"step": "ValidateOrder"})

    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING" and line["message"] == "step failed"
    assert line["service"] == "ops-console-dev"
    assert line["order_id"] == "o-1" and line["execution_arn"] == "arn:aws:states:x:order-o-1"
    assert line["function_request_id"] == context.aws_request_id and line["function_name"] == "ops-console-dev"
    assert line["step"] == "ValidateOrder"
    assert line["timestamp"].endswith("+00:00")


def test_the_log_format_follows_where_the_code_runs(settings):
    # Off Lambda: plain lines, and only that formatter is built (the JSON one imports Powertools).
    assert settings.LOG_FORMAT == "plain"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    assert list(settings.LOGGING["formatters"]) == ["plain"]


def test_metrics_are_emf_lines_when_on(settings, capsys):
    settings.METRICS_EMF = True

    observability.metric("RowsIngested", 250, decision_source="csv")

    document = json.loads(capsys.readouterr().out)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "OpsConsole"
    assert directive["Metrics"] == [{"Name": "RowsIngested", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["decision_source", "service"]
    assert document["RowsIngested"] == [250.0]
    assert document["service"] == "ops-console-dev" and document["decision_source"] == "csv"


def test_metrics_are_only_counted_when_off(settings, capsys):
    settings.METRICS_EMF = False
    before = observability.recorded_metrics()["Redrives"]

    observability.metric("Redrives", 3)

    assert observability.recorded_metrics()["Redrives"] == before + 3
    assert capsys.readouterr().out == ""


def test_the_first_invocation_of_a_process_is_the_cold_start(monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", True)
    before = observability.recorded_metrics()["ColdStart"]

    with observability.invocation(LambdaContext("f")) as first:
        pass
    with observability.invocation(LambdaContext("f")) as second:
        pass

    assert (first, second) == (True, False)
    assert observability.recorded_metrics()["ColdStart"] == before + 1


def test_a_failed_request_counts_as_an_error():
    before = observability.recorded_metrics()["Errors"]

    got_request_exception.send(sender=None, request=None)

    assert observability.recorded_metrics()["Errors"] == before + 1


@pytest.mark.django_db
def test_a_decision_is_counted_and_made_under_the_approval_and_order_ids(operator):
    approval = make_approval(token="token-metrics")
    before = observability.recorded_metrics()["ApprovalsDecided"]
    ids_at_the_aws_call = []
    client = aws.client("stepfunctions")

    def remember_ids(**kwargs):
        ids_at_the_aws_call.append(observability.correlation_ids())

    client.meta.events.register("before-parameter-build.sfn.SendTaskSuccess", remember_ids)
    try:
        with Stubber(client) as stubber:
            stubber.add_response("send_task_success", {}, {"taskToken": "token-metrics", "output": ANY})
            decided = approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    finally:
        client.meta.events.unregister("before-parameter-build.sfn.SendTaskSuccess", remember_ids)

    assert decided.status == Approval.Status.APPROVED
    assert observability.recorded_metrics()["ApprovalsDecided"] == before + 1
    assert ids_at_the_aws_call == [{"approval_id": str(approval.pk), "order_id": str(approval.order_id)}]
    assert observability.correlation_ids() == {}


def test_with_correlation_tags_a_service_by_its_arguments():
    @observability.with_correlation("order_id")
    def order_service(*, order_id, note):
        return observability.correlation_ids()

    assert order_service(order_id="o-9", note="x") == {"order_id": "o-9"}


def test_traced_functions_just_run_when_tracing_is_off(settings):
    settings.TRACING_ENABLED = False
    observability._tracer.cache_clear()

    @observability.traced("## test")
    def work(value):
        return value * 2

    assert work(21) == 42
    assert observability._tracer() is None


def test_traced_functions_send_annotated_subsegments_to_xray_when_tracing_is_on():
    """In a Lambda-like process with tracing on, the subsegment reaches the X-Ray daemon
    address (a UDP socket here) with the correlation ids as annotations."""
    pytest.importorskip("aws_xray_sdk", reason="tracing needs aws-xray-sdk (installed with moto[server])")
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(15)
    code = (
        "import django; django.setup()\n"
        "from console.platform import observability\n"
        "work = observability.traced('## approve')(lambda: 1)\n"
        "with observability.correlation(order_id='o-7', approval_id=3):\n"
        "    work()\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.test",
        "TRACING_ENABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "ops-console-dev",
        "LAMBDA_TASK_ROOT": str(Path(__file__).resolve().parents[2]),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
    }
    try:
        process = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert process.returncode == 0, process.stderr
        documents = []
        while not any(d.get("name") == "## approve" for d in documents):
            packet = daemon.recv(65535).decode()
            documents += [json.loads(part) for part in packet.splitlines() if part.startswith("{")]
    finally:
        daemon.close()
    (subsegment,) = [d for d in documents if d.get("name") == "## approve"]
    assert subsegment["type"] == "subsegment"
    assert subsegment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert subsegment["annotations"] == {"order_id": "o-7", "approval_id": "3"}
