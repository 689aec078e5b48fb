"""Stopping an execution with a reason, and restarting an order's workflow from its failed
step: against the moto server's real Step Functions engine (which accepts StopExecution
but ends the execution only at its next transition, and has no RedriveExecution), and
against AWS's documented answers through botocore's Stubber."""

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from django.urls import reverse

from console.aws import clients as aws
from console.aws import resources
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import csrf_post, wait_for
from tests.factories import OrderFactory
from tests.workflows.conftest import make_pending_approval
from workflows import sfn
from workflows.approvals import approval_decide
from workflows.executions import TaskMessage, execution_refresh, workflow_start
from workflows.models import Approval, Execution, StepRun
from workflows.restarts import RESUMABLE_STATES, execution_resume_point
from workflows.selectors import DEFINITIONS_DIR
from workflows.step_tasks import step_task_run
from workflows.stops import STOP_ERROR, ExecutionNotStoppable, execution_stop

NOW = datetime(2026, 11, 27, tzinfo=UTC)
PROCESSING = json.loads((DEFINITIONS_DIR / "order-processing.asl.json").read_text())


def test_the_definition_resumes_exactly_at_the_states_a_restart_may_name():
    first = PROCESSING["States"][PROCESSING["StartAt"]]
    assert first["Type"] == "Choice" and first["Default"] == "ValidateOrder"
    assert [choice["Next"] for choice in first["Choices"]] == list(RESUMABLE_STATES)
    for choice in first["Choices"]:
        present, equals = choice["And"]
        assert present == {"Variable": "$.resume.from", "IsPresent": True}
        assert equals == {"Variable": "$.resume.from", "StringEquals": choice["Next"]}


def running_execution(approval: Approval) -> Execution:
    execution = approval.execution
    execution.current_state = "RequestApproval"
    execution.save()
    return execution


def stub_running(stubber: Stubber, arn: str) -> None:
    described = {"executionArn": arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                 "status": "RUNNING", "startDate": NOW}  # fmt: skip
    stubber.add_response("describe_execution", described, {"executionArn": arn})
    entered = {"id": 2, "type": "TaskStateEntered", "timestamp": NOW,
               "stateEnteredEventDetails": {"name": "RequestApproval"}}  # fmt: skip
    stubber.add_response("get_execution_history", {"events": [entered]}, None)


@pytest.mark.django_db
def test_on_aws_a_stop_aborts_at_once_fails_the_order_and_closes_its_approval(
    support_user, django_capture_on_commit_callbacks
):
    approval = make_pending_approval("tok-stop-aws")
    execution = running_execution(approval)
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_running(stubber, execution.arn)
        stubber.add_response(
            "stop_execution",
            {"stopDate": NOW},
            {"executionArn": execution.arn, "error": STOP_ERROR, "cause": "Stopped by sam-support: wrong customer"},
        )
        stubber.add_response(
            "describe_execution",
            {"executionArn": execution.arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
             "status": "ABORTED", "startDate": NOW, "stopDate": NOW, "error": STOP_ERROR},
            {"executionArn": execution.arn},
        )  # fmt: skip
        # AWS closed the task with the execution: our answer to it is refused, and dropped.
        stubber.add_client_error("send_task_failure", service_error_code="TaskTimedOut", http_status_code=400)
        with django_capture_on_commit_callbacks(execute=True):
            stopped = execution_stop(execution_id=execution.pk, actor=support_user, reason="wrong customer")
        stubber.assert_no_pending_responses()

    assert (stopped.status, stopped.error, stopped.stop_reason) == ("ABORTED", STOP_ERROR, "wrong customer")
    order = Order.objects.get(pk=execution.order_id)
    assert order.status == OrderStatus.FAILED and order.status_reason == "Stopped by sam-support: wrong customer"
    approval.refresh_from_db()
    assert approval.status == Approval.Status.CLOSED and "wrong customer" in approval.outcome_detail
    entry = AuditEntry.objects.get(action="execution.stop")
    assert (entry.actor, entry.reason) == (support_user, "wrong customer")
    assert entry.after == {"status": "ABORTED", "order": "FAILED"}
    assert entry.before == {"status": "RUNNING", "state": "RequestApproval"}


@pytest.mark.django_db
def test_a_stop_refused_or_unanswered_changes_nothing(support_user, settings):
    approval = make_pending_approval("tok-stop-503")
    execution = running_execution(approval)
    with pytest.raises(ExecutionNotStoppable, match="Say why"):
        execution_stop(execution_id=execution.pk, actor=support_user, reason="  ")
    settings.AWS_ENDPOINT_URL = None
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_running(stubber, execution.arn)
        stubber.add_client_error("stop_execution", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(sfn.StepFunctionsUnavailable):
            execution_stop(execution_id=execution.pk, actor=support_user, reason="wrong customer")
    execution.refresh_from_db()
    assert execution.stop_requested_at is None and execution.status == "RUNNING"
    assert Order.objects.get(pk=execution.order_id).status == OrderStatus.AWAITING_APPROVAL
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    assert not AuditEntry.objects.filter(action="execution.stop").exists()


@pytest.mark.django_db
def test_a_step_of_a_stopped_execution_is_answered_without_running():
    approval = make_pending_approval("tok-stop-step")
    Execution.objects.filter(pk=approval.execution_id).update(stop_requested_at=NOW, stop_reason="wrong customer")
    message = TaskMessage("ProcessPayment", str(approval.order_id), "tok-step", approval.execution.arn, {})
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response(
            "send_task_failure",
            {},
            {
                "taskToken": "tok-step",
                "error": "ExecutionStopped",
                "cause": "The execution was stopped: wrong customer",
            },
        )
        run = step_task_run(message=message)
    assert (run.status, run.error) == (StepRun.Status.FAILED, "ExecutionStopped")
    assert Order.objects.get(pk=approval.order_id).status == OrderStatus.AWAITING_APPROVAL  # not PAID


@pytest.mark.django_db
def test_an_execution_stopped_outside_the_console_fails_its_order_saying_so():
    approval = make_pending_approval("tok-outside")
    execution = running_execution(approval)
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response(
            "describe_execution",
            {"executionArn": execution.arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
             "status": "ABORTED", "startDate": NOW, "stopDate": NOW, "cause": "cli"},
            {"executionArn": execution.arn},
        )  # fmt: skip
        execution_refresh(execution=execution)
    order = Order.objects.get(pk=execution.order_id)
    assert order.status == OrderStatus.FAILED
    assert order.status_reason == "The workflow was stopped outside the console (cli)"


def history_event(event_id: int, kind: str, name: str = "", **details) -> dict:
    event = {"id": event_id, "previousEventId": event_id - 1, "type": kind, "timestamp": NOW}
    if name:
        event["stateEnteredEventDetails"] = {"name": name}
    if details:
        event["taskFailedEventDetails"] = {"resourceType": "sqs", "resource": "sendMessage.waitForTaskToken", **details}
    return event


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failed", "resume"),
    [
        ("ValidateOrder", ""),  # the first step: the order starts over
        ("ProcessPayment", "ProcessPayment"),
        ("InitiateShipping", "ParallelFulfillment"),  # a branch's step: its whole Parallel again
        ("RecordFailure", ""),
    ],
)
def test_the_resume_point_is_the_top_level_state_of_the_first_failure(failed, resume):
    execution = Execution.objects.create(
        order=OrderFactory(), name=f"order-resume-{failed}", state_machine=resources.ORDER_PROCESSING,
        arn=f"arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing:r-{failed}",
    )  # fmt: skip
    events = [
        history_event(1, "ExecutionStarted"),
        history_event(2, "TaskStateEntered", "ValidateOrder"),
        history_event(3, "TaskStateExited"),
        history_event(4, "TaskStateEntered", failed),
        history_event(5, "TaskFailed", error="States.Timeout", cause=""),
        history_event(6, "TaskStateEntered", "RecordFailure"),
    ]
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response("get_execution_history", {"events": events}, None)
        assert execution_resume_point(execution=execution, definition=PROCESSING) == resume


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_on_the_local_engine_a_stopped_order_restarts_from_its_approval_skipping_the_steps_done(
    stack, support_user, operator, console_client
):
    from orders.services import order_create

    order = order_create(
        user_id="stop-me", items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}],
        start_workflow=False,
    )  # fmt: skip
    first = workflow_start(order_id=order.pk)
    wait_for(
        lambda: Approval.objects.filter(execution=first, status=Approval.Status.PENDING).exists(),
        timeout=30,
        what="the approval",
    )
    console_client.force_login(support_user)
    page_url = reverse("admin:workflows_execution_change", args=[first.pk])
    stop_url = reverse("admin:workflows_execution_stop", args=[first.pk])
    page = console_client.get(page_url).content.decode()
    assert stop_url in page and 'data-state="RequestApproval"' in page
    response = csrf_post(console_client, stop_url, stop_url, {"reason": "customer asked to hold it"})
    assert response.status_code == 302

    first.refresh_from_db()
    assert first.stop_requested_at is not None and first.stop_reason == "customer asked to hold it"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    assert Approval.objects.get(execution=first).status == Approval.Status.CLOSED
    # The local engine took the stop, and ended the execution where it was once its approval
    # task was answered (FAILED with the stop's error, where AWS says ABORTED), following no Catch.
    wait_for(lambda: sfn.describe_execution(execution_arn=first.arn)["status"] != "RUNNING", timeout=20, what="the end")
    first = execution_refresh(execution=first)
    assert first.status in {"ABORTED", "FAILED"} and first.error == STOP_ERROR
    assert not StepRun.objects.filter(execution=first, step="RecordFailure").exists()
    page = console_client.get(page_url).content.decode()
    assert "Stopped at RequestApproval" in page and "Restart from RequestApproval" in page

    response = csrf_post(
        console_client, page_url, reverse("admin:workflows_execution_restart", args=[first.pk]), {"reason": "held"}
    )
    assert response.status_code == 302
    restarted = Execution.objects.get(restarted_from=first)
    assert (restarted.resumed_at, restarted.restart_method) == ("RequestApproval", "resume")
    assert json.loads(sfn.describe_execution(execution_arn=restarted.arn)["input"])["resume"] == {
        "from": "RequestApproval",
        "execution": first.name,
    }
    wait_for(
        lambda: Approval.objects.filter(execution=restarted, status=Approval.Status.PENDING).exists(),
        timeout=30,
        what="the resumed workflow's approval",
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_APPROVAL
    # ValidateOrder and CheckInventory did not run again.
    assert not StepRun.objects.filter(execution=restarted).exists()
    visited = [v["stateEnteredEventDetails"]["name"] for v in sfn.execution_history_all(execution_arn=restarted.arn)
               if "stateEnteredEventDetails" in v]  # fmt: skip
    assert visited == ["ResumeOrStart", "RequestApproval"]
    audit = AuditEntry.objects.get(action="execution.restart")
    assert audit.after["resumedAt"] == "RequestApproval" and audit.actor == support_user

    approval = Approval.objects.get(execution=restarted, status=Approval.Status.PENDING)
    approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED, timeout=45, what="COMPLETED")
    wait_for(lambda: sfn.describe_execution(execution_arn=restarted.arn)["status"] == "SUCCEEDED", what="the end")


@pytest.mark.django_db
def test_only_support_and_admins_stop_and_only_with_csrf_and_a_reason(operator, support_user, console_client):
    approval = make_pending_approval("tok-stop-perm")
    execution = running_execution(approval)
    url = reverse("admin:workflows_execution_stop", args=[execution.pk])
    console_client.force_login(operator)
    assert console_client.get(url).status_code == 403
    assert (
        csrf_post(console_client, reverse("admin:workflows_approval_changelist"), url, {"reason": "x"}).status_code
        == 403
    )
    console_client.force_login(support_user)
    assert console_client.post(url, {"reason": "no token"}).status_code == 403  # CSRF
    page = console_client.get(url)
    assert page.status_code == 200 and b'name="reason"' in page.content and b"fails with your reason" in page.content
    refused = csrf_post(console_client, url, url, {"reason": ""})
    assert refused.status_code == 200 and b"Say why the execution is stopped" in refused.content
    execution.refresh_from_db()
    assert execution.stop_requested_at is None and not AuditEntry.objects.filter(action="execution.stop").exists()
