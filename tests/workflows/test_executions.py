"""Execution pages (the history from GetExecutionHistory, readable) and restarting a failed
execution: RedriveExecution where the engine has it, else a new execution with the same
input, labelled; both audited. AWS's answers come from botocore's Stubber, the local
engine's from the moto server."""

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber
from django.urls import reverse

from console.aws import clients as aws
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import csrf_post, wait_for
from tests.factories import OrderFactory
from workflows import selectors, sfn
from workflows.approvals import approval_decide
from workflows.executions import workflow_start
from workflows.models import Approval, Execution
from workflows.restarts import ExecutionNotRestartable, execution_restart

ARN = "arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-saga:saga-x-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ops-console-dev-order-saga"
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def failed_saga_execution(error: str = "States.Runtime") -> Execution:
    order = OrderFactory()
    return Execution.objects.create(
        order=order, name="saga-x-1", arn=ARN, state_machine="order-saga", status=Execution.Status.FAILED, error=error
    )


def stub_failed(stubber: Stubber, error: str, definition: dict) -> None:
    described = {
        "executionArn": ARN,
        "stateMachineArn": MACHINE,
        "status": "FAILED",
        "startDate": NOW,
        "stopDate": NOW,
        "error": error,
        "input": json.dumps({"orderId": "o-1", "drill": {"failAt": None}}),
    }
    stubber.add_response("describe_execution", described, {"executionArn": ARN})
    stubber.add_response("describe_execution", described, {"executionArn": ARN})
    stubber.add_response(
        "describe_state_machine",
        {
            "stateMachineArn": MACHINE,
            "name": "m",
            "definition": json.dumps(definition),
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "type": "STANDARD",
            "creationDate": NOW,
        },
        {"stateMachineArn": MACHINE},
    )


SAGA_DEFINITION = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "SagaFailed"}}}


@pytest.mark.django_db
def test_aws_redrives_an_execution_that_failed_outside_its_fail_states(support_user):
    execution = failed_saga_execution()
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_failed(stubber, "States.Runtime", SAGA_DEFINITION)
        stubber.add_response("redrive_execution", {"redriveDate": NOW}, {"executionArn": ARN})
        restarted = execution_restart(execution_id=execution.pk, actor=support_user, reason="bug fixed")
        stubber.assert_no_pending_responses()
    assert restarted.pk == execution.pk
    assert (restarted.status, restarted.redrive_count, restarted.restart_method) == ("RUNNING", 1, "redrive")
    entry = AuditEntry.objects.get(action="execution.restart")
    assert entry.actor == support_user and entry.reason == "bug fixed" and entry.after["method"] == "redrive"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "redrive_answer"),
    [
        ("States.Runtime", "ExecutionNotRedrivable"),  # AWS refuses
        ("SagaFailed", None),  # ended in its own Fail state: redriving would only fail again
    ],
)
def test_otherwise_a_new_execution_starts_with_the_same_input(support_user, error, redrive_answer):
    execution = failed_saga_execution(error)
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_failed(stubber, error, SAGA_DEFINITION)
        if redrive_answer:
            stubber.add_client_error("redrive_execution", service_error_code=redrive_answer, http_status_code=400)
        stubber.add_response(
            "start_execution",
            {"executionArn": ARN.replace("saga-x-1", "saga-x-1-restart-1"), "startDate": NOW},
            {"stateMachineArn": MACHINE, "name": "saga-x-1-restart-1", "input": ANY},
        )
        restarted = execution_restart(execution_id=execution.pk, actor=support_user)
        stubber.assert_no_pending_responses()
    assert restarted.name == "saga-x-1-restart-1" and restarted.restarted_from == execution
    assert restarted.restart_method == "new-execution" and restarted.status == "RUNNING"
    assert AuditEntry.objects.get(action="execution.restart").after["newExecution"] == "saga-x-1-restart-1"


@pytest.mark.django_db
def test_only_failed_executions_of_failed_orders_restart(support_user):
    execution = failed_saga_execution()
    Execution.objects.filter(pk=execution.pk).update(status=Execution.Status.RUNNING, arn="")
    with pytest.raises(ExecutionNotRestartable, match="this one is RUNNING"):
        execution_restart(execution_id=execution.pk, actor=support_user)


@pytest.mark.django_db
def test_operators_cannot_restart_executions(operator, console_client):
    execution = failed_saga_execution()
    console_client.force_login(operator)
    url = reverse("admin:workflows_execution_restart", args=[execution.pk])
    assert csrf_post(console_client, reverse("admin:workflows_execution_changelist"), url).status_code == 403


def test_history_is_read_into_the_states_passed_with_tokens_hidden():
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": NOW, "executionStartedEventDetails": {"input": '{"a":1}'}},
        {"id": 2, "previousEventId": 1, "type": "TaskStateEntered", "timestamp": NOW,
         "stateEnteredEventDetails": {"name": "ValidateOrder", "input": '{"a":1}'}},
        {"id": 3, "previousEventId": 2, "type": "TaskScheduled", "timestamp": NOW,
         "taskScheduledEventDetails": {"resource": "sendMessage.waitForTaskToken", "resourceType": "sqs",
                                       "region": "us-east-1", "timeoutInSeconds": 300,
                                       "parameters": json.dumps({"MessageBody": {"taskToken": "SECRET",
                                                                                 "step": "V"}})}},
        {"id": 4, "previousEventId": 3, "type": "TaskFailed", "timestamp": NOW,
         "taskFailedEventDetails": {"error": "ValidationError", "cause": "the order has no items"}},
        {"id": 5, "previousEventId": 4, "type": "FailStateEntered", "timestamp": NOW,
         "stateEnteredEventDetails": {"name": "OrderFailed", "input": "{}"}},
        {"id": 6, "previousEventId": 5, "type": "ExecutionFailed", "timestamp": NOW,
         "executionFailedEventDetails": {"error": "OrderProcessingFailed", "cause": "failed"}},
    ]  # fmt: skip
    history = selectors.history_from_events(events)
    validate, failed = history.visits
    assert (validate.name, validate.outcome, validate.error) == ("ValidateOrder", "failed", "ValidationError")
    assert validate.cause == "the order has no items" and validate.timeout_seconds == 300
    assert "SECRET" not in validate.sent and "task token, hidden" in validate.sent and '"step": "V"' in validate.sent
    assert (failed.name, failed.outcome) == ("OrderFailed", "failed")
    assert (history.outcome, history.error) == ("failed", "OrderProcessingFailed")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_failed_order_is_restarted_as_a_new_execution_and_its_page_reads_well(
    stack, support_user, operator, console_client
):
    from orders.services import order_create

    order = order_create(
        user_id="restart-me", items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}],
        start_workflow=False,
    )  # fmt: skip
    Order.objects.filter(pk=order.pk).update(total=11)  # validation fails: the total does not match
    first = workflow_start(order_id=order.pk)
    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FAILED, timeout=30, what="FAILED")
    wait_for(lambda: sfn.describe_execution(execution_arn=first.arn)["status"] == "FAILED", what="execution end")

    console_client.force_login(support_user)
    page_url = reverse("admin:workflows_execution_change", args=[first.pk])
    page = console_client.get(page_url).content.decode()
    for text in ("ValidateOrder", "RecordFailure", "OrderFailed", "ValidationError", "the total does not match"):
        assert text in page, text
    assert "Restart execution" in page
    token = Approval.objects.filter(order=order).values_list("task_token", flat=True).first()
    assert token is None and '"taskToken": "(task token, hidden)"' in page.replace("&quot;", '"')

    Order.objects.filter(pk=order.pk).update(total=10)  # the cause is fixed
    response = csrf_post(console_client, page_url, reverse("admin:workflows_execution_restart", args=[first.pk]))
    assert response.status_code == 302
    restarted = Execution.objects.get(restarted_from=first)
    assert restarted.name == f"order-{order.pk}-restart-1" and restarted.restart_method == "new-execution"
    wait_for(
        lambda: Approval.objects.filter(execution=restarted, status=Approval.Status.PENDING).exists(),
        timeout=30,
        what="the restarted workflow to reach its approval",
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_APPROVAL
    assert AuditEntry.objects.filter(action="execution.restart", actor=support_user).exists()
    listing = console_client.get(reverse("admin:workflows_execution_changelist"), {"q": str(order.pk)[:8]})
    listed = listing.content.decode()
    assert f"restart of order-{order.pk}" in listed
    # Names shown with the order id's first characters, whole on hover; statuses coloured.
    short = f"order-{str(order.pk)[:8]}\u2026-restart-1"
    assert f'<span title="order-{order.pk}-restart-1">{short}</span>' in listed
    assert '<span class="execution-status status-failed">FAILED</span>' in listed and ".status-failed" in listed
    # End the workflow, so nothing writes to the database while the test's tables are flushed.
    approval = Approval.objects.get(execution=restarted, status=Approval.Status.PENDING)
    approval_decide(approval_id=approval.pk, approve=False, actor=operator, reason="test over")
    wait_for(lambda: sfn.describe_execution(execution_arn=restarted.arn)["status"] == "FAILED", what="the end")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_local_engine_cannot_redrive_so_a_new_execution_starts(stack, support_user):
    client = aws.client("stepfunctions")
    definition = {"StartAt": "Broken", "States": {"Broken": {"Type": "Pass", "InputPath": "$.missing", "End": True}}}
    machine = client.create_state_machine(
        name="restart-probe", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    order = OrderFactory()
    arn = client.start_execution(stateMachineArn=machine, name="probe-1", input='{"x": 1}')["executionArn"]
    wait_for(lambda: client.describe_execution(executionArn=arn)["status"] == "FAILED", what="the probe to fail")
    execution = Execution.objects.create(
        order=order, name="probe-1", arn=arn, state_machine="restart-probe", status=Execution.Status.RUNNING
    )
    redrives = []

    def count_redrive(**kwargs):
        redrives.append(kwargs)

    client.meta.events.register("before-call.sfn.RedriveExecution", count_redrive)
    try:
        restarted = execution_restart(execution_id=execution.pk, actor=support_user)
    finally:
        client.meta.events.unregister("before-call.sfn.RedriveExecution", count_redrive)
    assert redrives  # it was tried first (moto answers 500: not implemented)
    assert restarted.name == "probe-1-restart-1" and restarted.restart_method == "new-execution"
    assert json.loads(client.describe_execution(executionArn=restarted.arn)["input"]) == {"x": 1}
