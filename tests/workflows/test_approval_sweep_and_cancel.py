"""The approval path around the decision: storing an approval task (once, with what the
workflow sent), closing it with a cancelled order, and the scheduled sweep (expiry,
heartbeats, execution checks, redelivery) over several approvals at once: each counted,
each recorded, within its limit, judged by the time the sweep is given. AWS's answers come
from botocore's Stubber on the real client: any call not queued on it fails (and the sweep
would count it as an error)."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from botocore.stub import ANY, Stubber
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.aws import clients as aws
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order
from orders.services import order_cancel
from tests.factories import OrderFactory
from tests.workflows.conftest import make_pending_approval
from workflows import sfn
from workflows.approvals import ApprovalNotPending, approval_deliver, approval_request, approval_sweep
from workflows.executions import TaskMessage
from workflows.models import Approval, Execution, token_digest

pytestmark = pytest.mark.django_db

BIG = Decimal("9000.00")  # above the default four-eyes limit of 5000
EXECUTION_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing"
NOTHING = {"expired": 0, "closed": 0, "heartbeats": 0, "checked": 0, "redelivered": 0, "errors": 0}


def swept(**counts: int) -> dict[str, int]:
    """What approval_sweep returns when only ``counts`` are not zero."""
    return {**NOTHING, **counts}


@pytest.fixture
def step_functions():
    with Stubber(aws.client("stepfunctions")) as stub:
        yield stub
        stub.assert_no_pending_responses()


def pending(token: str, **fields) -> Approval:
    approval = make_pending_approval(token, total=fields.pop("total", None))
    Approval.objects.filter(pk=approval.pk).update(**fields)
    return Approval.objects.get(pk=approval.pk)


def decided(token: str, *, actor, status=Approval.Status.APPROVED, decided_at, **fields) -> Approval:
    """A decision recorded and not delivered (a transient error held it back)."""
    approval = pending(token, total=fields.pop("total", None))
    Approval.objects.filter(pk=approval.pk).update(
        status=status, decided_by=actor, decided_at=decided_at, reason="checked", checked_at=decided_at, **fields
    )
    order_status = OrderStatus.APPROVED if status == Approval.Status.APPROVED else OrderStatus.REJECTED
    Order.objects.filter(pk=approval.order_id).update(status=order_status)
    return Approval.objects.get(pk=approval.pk)


def entries(approval: Approval) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_id=str(approval.pk)).order_by("id"))


def logged_messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith("workflows.approvals.")]


def selects(queries: CaptureQueriesContext) -> int:
    return sum(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)


# --- Storing the approval task ---------------------------------------------------------------------


def task_message(order, token: str = "tok", **extra) -> TaskMessage:
    return TaskMessage.parse(
        {
            "step": "RequestApproval",
            "orderId": str(order.pk),
            "taskToken": token,
            "executionArn": f"{EXECUTION_PREFIX}:order-{order.pk}",
            **extra,
        }
    )


def test_an_approval_task_is_stored_with_what_the_workflow_sent(django_capture_on_commit_callbacks):
    order = OrderFactory(status=OrderStatus.VALIDATED)
    message = task_message(
        order,
        stateName="AskTheHumans",
        enteredTime="2026-01-01T10:00:00Z",
        timeoutSeconds=3600,
        heartbeatSeconds="600",
    )

    with mock.patch("workflows.approvals.notifications.approval_notify") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            approval = approval_request(message=message)

    stored = Approval.objects.get()
    assert stored.pk == approval.pk
    entered = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert (stored.state_name, stored.task_token, stored.token_sha256) == ("AskTheHumans", "tok", token_digest("tok"))
    assert (stored.expires_at, stored.heartbeat_seconds, stored.checked_at) == (
        entered + timedelta(hours=1),
        600,
        entered,
    )
    assert stored.required_approvals == 1 and stored.status == Approval.Status.PENDING
    execution = Execution.objects.get(pk=stored.execution_id)
    assert (execution.arn, execution.current_state) == (f"{EXECUTION_PREFIX}:order-{order.pk}", "AskTheHumans")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.AWAITING_APPROVAL
    notify.assert_called_once_with(approval_id=stored.pk)


def test_an_approval_task_without_timeout_or_heartbeat_waits_unbounded_under_its_step_name(
    django_capture_on_commit_callbacks,
):
    order = OrderFactory(
        status=OrderStatus.VALIDATED, items=[{"product_id": "p", "name": "Big", "quantity": 1, "price": BIG}]
    )
    before = timezone.now()

    with mock.patch("workflows.approvals.notifications.approval_notify"):
        with django_capture_on_commit_callbacks(execute=True):
            approval_request(message=task_message(order))

    stored = Approval.objects.get()
    assert (stored.state_name, stored.expires_at, stored.heartbeat_seconds) == ("RequestApproval", None, None)
    assert before <= stored.checked_at <= timezone.now()  # entered "now": checked from when it arrived
    assert stored.required_approvals == 2  # four-eyes, from the order's total


def test_an_approval_task_delivered_again_returns_the_stored_approval_and_emails_once(
    django_capture_on_commit_callbacks,
):
    order = OrderFactory(status=OrderStatus.VALIDATED)

    with mock.patch("workflows.approvals.notifications.approval_notify") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            first = approval_request(message=task_message(order, timeoutSeconds=60))
        with django_capture_on_commit_callbacks(execute=True):
            again = approval_request(message=task_message(order, timeoutSeconds=60))

    assert again.pk == first.pk and again.task_token == "tok"
    assert Approval.objects.count() == 1
    notify.assert_called_once_with(approval_id=first.pk)


def test_an_email_that_cannot_be_sent_loses_nothing_and_is_logged(django_capture_on_commit_callbacks, caplog):
    order = OrderFactory(status=OrderStatus.VALIDATED)

    with mock.patch("workflows.approvals.notifications.approval_notify", side_effect=ConnectionError("smtp down")):
        with caplog.at_level(logging.ERROR, logger="workflows.approvals"):
            with django_capture_on_commit_callbacks(execute=True):
                approval = approval_request(message=task_message(order))

    assert Approval.objects.get().status == Approval.Status.PENDING
    logged = [(r.levelno, r.getMessage(), r.exc_info[0]) for r in caplog.records if r.name.startswith("workflows.")]
    assert logged == [(logging.ERROR, f"could not email the approvers of approval {approval.pk}", ConnectionError)]


@pytest.mark.parametrize(("status_reason", "detail"), [("customer asked", "customer asked"), ("", "Order cancelled")])
def test_an_approval_task_for_a_cancelled_order_is_closed_and_failed_with_the_reason(
    django_capture_on_commit_callbacks, status_reason, detail
):
    order = OrderFactory(status=OrderStatus.CANCELLED, status_reason=status_reason)

    with (
        mock.patch("workflows.approvals.notifications.approval_notify") as notify,
        mock.patch("workflows.sfn.send_task_failure") as fail,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            approval_request(message=task_message(order))

    approval = Approval.objects.get()
    assert (approval.status, approval.outcome_detail) == (Approval.Status.CANCELLED, detail)
    fail.assert_called_once_with(task_token="tok", error="OrderCancelled", cause=detail)
    notify.assert_not_called()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


# --- Cancelling with the order ---------------------------------------------------------------------


def test_cancelling_the_order_fails_the_pending_task_once_committed(operator, django_capture_on_commit_callbacks):
    approval = make_pending_approval("t-cancel")
    other_order = make_pending_approval("t-other")

    with mock.patch("workflows.sfn.send_task_failure") as fail:
        with django_capture_on_commit_callbacks() as callbacks:
            order_cancel(order_id=approval.order_id, actor=operator, reason="duplicate order")
        fail.assert_not_called()  # not before the cancellation is committed
        for callback in callbacks:
            callback()

    fail.assert_called_once_with(task_token="t-cancel", error="OrderCancelled", cause="duplicate order")
    approval.refresh_from_db()
    assert (approval.status, approval.outcome_detail) == (Approval.Status.CANCELLED, "duplicate order")
    other_order.refresh_from_db()
    assert (other_order.status, other_order.outcome_detail) == (Approval.Status.PENDING, "")


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (sfn.TaskExpired("gone", aws_code="TaskTimedOut"), []),  # nothing to end: no noise
        (RuntimeError("network"), ["could not fail the approval task of a cancelled order"]),
    ],
)
def test_a_task_that_cannot_be_failed_does_not_undo_the_cancellation(
    operator, django_capture_on_commit_callbacks, caplog, error, logged
):
    approval = make_pending_approval("t-cancel")

    with mock.patch("workflows.sfn.send_task_failure", side_effect=error) as fail:
        with caplog.at_level(logging.ERROR, logger="workflows.approvals"):
            with django_capture_on_commit_callbacks(execute=True):
                order_cancel(order_id=approval.order_id, actor=operator, reason="")

    fail.assert_called_once_with(task_token="t-cancel", error="OrderCancelled", cause="Order cancelled")
    assert logged_messages(caplog) == logged
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.CANCELLED
    assert Order.objects.get(pk=approval.order_id).status == OrderStatus.CANCELLED


def test_an_approval_decided_meanwhile_is_not_cancelled_nor_its_task_failed(
    operator, django_capture_on_commit_callbacks
):
    """The cancellation read the approval as pending; a decision committed before its update."""
    from workflows.approvals.requests import _approval_cancel

    stale = make_pending_approval("t-raced")
    Approval.objects.filter(pk=stale.pk).update(status=Approval.Status.APPROVED, decided_by=operator)

    with mock.patch("workflows.sfn.send_task_failure") as fail:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            _approval_cancel(approval=stale, reason="too late")

    assert callbacks == []
    fail.assert_not_called()
    assert Approval.objects.get(pk=stale.pk).status == Approval.Status.APPROVED


# --- The sweep: expiry -----------------------------------------------------------------------------------


def test_the_sweep_expires_each_approval_past_its_timeout_drops_its_claim_and_records_when(step_functions, operator):
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    claimed = pending("late-claimed", expires_at=now - timedelta(hours=1), claimed_by=operator, claimed_at=now)
    on_the_dot = pending("on-the-dot", expires_at=now)
    fresh = pending("fresh", expires_at=now + timedelta(seconds=1), checked_at=now)

    assert approval_sweep(now=now) == swept(expired=2)

    claimed.refresh_from_db()
    detail = "The approval's task timed out at 2026-03-01 11:00:00 UTC: the workflow stopped waiting."
    assert (claimed.status, claimed.outcome_detail, claimed.claimed_by, claimed.claimed_at) == (
        Approval.Status.EXPIRED,
        detail,
        None,
        None,
    )
    assert Approval.objects.get(pk=on_the_dot.pk).status == Approval.Status.EXPIRED
    assert Approval.objects.get(pk=fresh.pk).status == Approval.Status.PENDING
    [entry] = entries(claimed)
    assert (entry.action, entry.actor, entry.source, entry.reason, entry.before, entry.after) == (
        "approval.expired",
        None,
        AuditEntry.Source.SYSTEM,
        detail,
        {"status": "PENDING"},
        {"status": "EXPIRED"},
    )


def test_decided_approvals_past_their_timeout_do_not_use_up_the_expiry_limit(step_functions, operator):
    now = timezone.now()
    decided(
        "decided-long-ago",
        actor=operator,
        decided_at=now - timedelta(hours=2),
        delivered_at=now - timedelta(hours=2),
        expires_at=now - timedelta(hours=1),
    )
    late = pending("late", expires_at=now - timedelta(minutes=1))

    assert approval_sweep(now=now, limit=1) == swept(expired=1)
    assert Approval.objects.get(pk=late.pk).status == Approval.Status.EXPIRED


def test_the_sweep_judges_expiry_by_the_time_it_is_given(step_functions):
    real_now = timezone.now()
    approval = pending("later", expires_at=real_now - timedelta(minutes=30), checked_at=real_now)

    # A sweep for an hour ago: the approval was still open then.
    assert approval_sweep(now=real_now - timedelta(hours=1)) == NOTHING
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING

    assert approval_sweep() == swept(expired=1)


def test_the_sweep_expires_at_most_200_approvals_a_run_by_default(step_functions):
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)
    long_ago = timezone.now() - timedelta(days=1)
    Approval.objects.bulk_create(
        Approval(
            order=order,
            state_name="RequestApproval",
            task_token=f"t-{index}",
            token_sha256=token_digest(f"t-{index}"),
            expires_at=long_ago,
        )
        for index in range(201)
    )

    assert approval_sweep() == swept(expired=200)
    assert Approval.objects.filter(status=Approval.Status.PENDING).count() == 1
    assert approval_sweep() == swept(expired=1)


def test_a_limit_bounds_each_kind_of_work_of_one_sweep(step_functions, operator):
    now = timezone.now()
    for index in range(3):
        pending(f"late-{index}", expires_at=now - timedelta(minutes=1))
        pending(f"beat-{index}", heartbeat_seconds=60, checked_at=now - timedelta(minutes=index + 1))
        decided(f"held-{index}", actor=operator, decided_at=now - timedelta(minutes=5))
    # The two checked longest ago get their heartbeats; any two of the held-back decisions go.
    for token in ("beat-2", "beat-1"):
        step_functions.add_response("send_task_heartbeat", {}, {"taskToken": token})
    for _ in range(2):
        step_functions.add_response("send_task_success", {}, {"taskToken": ANY, "output": ANY})

    assert approval_sweep(now=now, limit=2) == swept(expired=2, heartbeats=2, redelivered=2)

    assert Approval.objects.filter(status=Approval.Status.EXPIRED).count() == 2
    assert Approval.objects.filter(status=Approval.Status.APPROVED, delivered_at__isnull=False).count() == 2


# --- The sweep: heartbeats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heartbeat_seconds", "seconds_since_check", "sent"),
    [
        (900, 300, True),  # a third of the heartbeat: due
        (900, 299, False),
        (10, 3, True),  # whole seconds: 10 // 3
        (2, 1, True),  # never more often than once a second, never less than a heartbeat
        (2, 0, False),
    ],
)
def test_a_heartbeat_is_due_a_third_of_the_heartbeat_after_the_last_check(
    step_functions, heartbeat_seconds, seconds_since_check, sent
):
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    checked_at = now - timedelta(seconds=seconds_since_check)
    approval = pending("beat", heartbeat_seconds=heartbeat_seconds, checked_at=checked_at)
    if sent:
        step_functions.add_response("send_task_heartbeat", {}, {"taskToken": "beat"})

    assert approval_sweep(now=now) == swept(heartbeats=int(sent))

    approval.refresh_from_db()
    assert approval.checked_at == (now if sent else checked_at)
    assert approval.status == Approval.Status.PENDING


def test_an_approval_never_checked_is_due_from_when_it_was_requested(step_functions):
    approval = pending("beat", heartbeat_seconds=900, checked_at=None)
    step_functions.add_response("send_task_heartbeat", {}, {"taskToken": "beat"})

    assert approval_sweep(now=approval.requested_at + timedelta(seconds=299)) == NOTHING
    assert approval_sweep(now=approval.requested_at + timedelta(seconds=300)) == swept(heartbeats=1)
    assert Approval.objects.get(pk=approval.pk).checked_at == approval.requested_at + timedelta(seconds=300)


def test_every_due_heartbeat_is_sent_and_counted_past_those_not_due(step_functions):
    now = timezone.now()
    # Checked longest ago, so first in line, yet not due: a long heartbeat.
    pending("slow", heartbeat_seconds=3600, checked_at=now - timedelta(minutes=10))
    pending("fast-1", heartbeat_seconds=60, checked_at=now - timedelta(minutes=5))
    pending("fast-2", heartbeat_seconds=60, checked_at=now - timedelta(minutes=4))
    step_functions.add_response("send_task_heartbeat", {}, {"taskToken": "fast-1"})
    step_functions.add_response("send_task_heartbeat", {}, {"taskToken": "fast-2"})

    assert approval_sweep(now=now) == swept(heartbeats=2)


@pytest.mark.parametrize(
    ("aws_code", "status", "counted_as"),
    [
        ("TaskTimedOut", Approval.Status.EXPIRED, "expired"),
        ("TaskDoesNotExist", Approval.Status.CLOSED, "closed"),
        ("InvalidToken", Approval.Status.INVALID, "closed"),
    ],
)
def test_a_heartbeat_refused_marks_the_approval_with_what_aws_answered(
    step_functions, operator, aws_code, status, counted_as
):
    now = timezone.now()
    approval = pending(
        "gone", heartbeat_seconds=60, checked_at=now - timedelta(minutes=1), claimed_by=operator, claimed_at=now
    )
    step_functions.add_client_error("send_task_heartbeat", service_error_code=aws_code, service_message="no")

    assert approval_sweep(now=now) == swept(**{counted_as: 1})

    approval.refresh_from_db()
    detail = f"Step Functions answered {aws_code} to a heartbeat: the workflow no longer waits for it."
    assert (approval.status, approval.outcome_detail, approval.claimed_by) == (status, detail, None)
    assert [(e.action, e.reason, e.after) for e in entries(approval)] == [
        (f"approval.{status.lower()}", detail, {"status": status})
    ]


def test_a_heartbeat_refused_because_the_approval_was_decided_meanwhile_leaves_the_decision(operator):
    """An operator's decision is delivered while the sweep's heartbeat is in flight: the task
    is closed, so AWS refuses the heartbeat, and the decision must stand."""
    now = timezone.now()
    approval = pending("raced", heartbeat_seconds=60, checked_at=now - timedelta(minutes=1))

    def decided_meanwhile(**kwargs):
        Approval.objects.filter(pk=approval.pk).update(
            status=Approval.Status.APPROVED, decided_by=operator, decided_at=now, delivered_at=now
        )
        raise sfn.TaskExpired("Task Timed Out", aws_code="TaskTimedOut")

    with mock.patch("workflows.sfn.send_task_heartbeat", side_effect=decided_meanwhile):
        approval_sweep(now=now)

    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.outcome_detail) == (
        Approval.Status.APPROVED,
        operator,
        "",
    )
    assert entries(approval) == []


# --- The sweep: executions of approvals without heartbeats ---------------------------------------------


def describe(step_functions, approval: Approval, status: str, **extra) -> None:
    arn = approval.execution.arn
    step_functions.add_response(
        "describe_execution",
        {
            "executionArn": arn,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            "status": status,
            "startDate": timezone.now(),
            **extra,
        },
        {"executionArn": arn},
    )
    if status == "RUNNING":
        step_functions.add_response(
            "get_execution_history", {"events": []}, {"executionArn": arn, "reverseOrder": True, "maxResults": 50}
        )


def test_running_executions_are_checked_every_five_minutes_and_each_counted(step_functions):
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = pending("a", checked_at=now - timedelta(minutes=5))
    second = pending("b", checked_at=now - timedelta(minutes=6))
    recent = pending("c", checked_at=now - timedelta(minutes=4, seconds=59))
    describe(step_functions, second, "RUNNING")
    describe(step_functions, first, "RUNNING")

    assert approval_sweep(now=now) == swept(checked=2)

    assert Approval.objects.get(pk=first.pk).checked_at == now
    assert Approval.objects.get(pk=second.pk).checked_at == now
    assert Approval.objects.get(pk=recent.pk).checked_at == now - timedelta(minutes=4, seconds=59)
    assert set(Approval.objects.values_list("status", flat=True)) == {Approval.Status.PENDING}


def test_an_execution_not_due_for_a_check_does_not_hold_back_a_due_heartbeat(step_functions):
    now = timezone.now()
    pending("not-yet", checked_at=now - timedelta(minutes=4))  # first in line, not due
    pending("beat", heartbeat_seconds=60, checked_at=now - timedelta(minutes=3))
    step_functions.add_response("send_task_heartbeat", {}, {"taskToken": "beat"})

    assert approval_sweep(now=now) == swept(heartbeats=1)


def test_an_execution_that_ended_without_an_error_closes_its_approval(step_functions):
    approval = pending("done", checked_at=timezone.now() - timedelta(hours=1))
    describe(step_functions, approval, "SUCCEEDED", stopDate=timezone.now())

    assert approval_sweep() == swept(closed=1)

    approval.refresh_from_db()
    assert (approval.status, approval.outcome_detail) == (
        Approval.Status.CLOSED,
        "The execution has ended (SUCCEEDED).",
    )


def test_approvals_without_a_known_execution_are_left_alone(step_functions):
    long_ago = timezone.now() - timedelta(hours=1)
    no_execution = pending("none", checked_at=long_ago, execution=None)
    not_started = pending("no-arn", checked_at=long_ago)
    Execution.objects.filter(pk=not_started.execution_id).update(arn="")

    assert approval_sweep() == NOTHING
    assert set(Approval.objects.values_list("status", "checked_at")) == {(Approval.Status.PENDING, long_ago)}
    assert no_execution.pk != not_started.pk


def test_each_approval_that_cannot_be_checked_is_counted_and_logged(caplog):
    long_ago = timezone.now() - timedelta(hours=1)
    broken = [pending(f"broken-{index}", heartbeat_seconds=60, checked_at=long_ago) for index in range(2)]

    with mock.patch("workflows.sfn.send_task_heartbeat", side_effect=RuntimeError("network")):
        with caplog.at_level(logging.ERROR, logger="workflows.approvals"):
            assert approval_sweep() == swept(errors=2)

    assert sorted(logged_messages(caplog)) == sorted(
        f"sweep: approval {approval.pk} could not be checked" for approval in broken
    )


def test_the_sweep_reads_each_approvals_execution_with_it(step_functions):
    """The approvals waiting without heartbeats: SELECTs do not grow with their number."""
    now = timezone.now()

    def sweep_selects(count: int) -> int:
        Approval.objects.all().delete()
        for index in range(count):
            pending(f"wait-{count}-{index}", checked_at=now)  # not due: the sweep only looks
        with CaptureQueriesContext(connection) as queries:
            assert approval_sweep(now=now) == NOTHING
        return selects(queries)

    assert sweep_selects(3) == sweep_selects(1)


# --- The sweep: decisions held back ---------------------------------------------------------------------


def test_every_decision_held_back_is_delivered_recorded_as_the_system_and_counted(step_functions, operator):
    long_ago = timezone.now() - timedelta(minutes=5)
    approved = [decided(f"ok-{index}", actor=operator, decided_at=long_ago) for index in range(2)]
    rejected = decided("no", actor=operator, status=Approval.Status.REJECTED, decided_at=long_ago)
    for approval in approved:
        step_functions.add_response("send_task_success", {}, {"taskToken": approval.task_token, "output": ANY})
    step_functions.add_response(
        "send_task_failure",
        {},
        {"taskToken": "no", "error": "OrderRejected", "cause": "Rejected by olivia-operator: checked"},
    )

    assert approval_sweep() == swept(redelivered=3)

    for approval in [*approved, rejected]:
        [entry] = entries(approval)
        assert (entry.actor, entry.source) == (operator, AuditEntry.Source.SYSTEM)
    assert not Approval.objects.filter(delivered_at__isnull=True).exists()


def test_a_decision_whose_task_was_found_gone_is_never_sent_again(step_functions, operator):
    long_ago = timezone.now() - timedelta(minutes=5)
    approval = decided("gone", actor=operator, decided_at=long_ago)
    step_functions.add_client_error("send_task_success", service_error_code="TaskTimedOut")
    with pytest.raises(ApprovalNotPending):
        approval_deliver(approval=approval)

    assert approval_sweep() == NOTHING  # the stubber has nothing more: any call would be an error

    approval.refresh_from_db()
    assert (approval.status, approval.delivered_at) == (Approval.Status.EXPIRED, None)


def test_each_held_back_decision_whose_task_is_gone_counts_as_closed(step_functions, operator):
    long_ago = timezone.now() - timedelta(minutes=5)
    for index in range(2):
        decided(f"gone-{index}", actor=operator, decided_at=long_ago)
        step_functions.add_client_error("send_task_success", service_error_code="TaskDoesNotExist")

    assert approval_sweep() == swept(closed=2)
    assert set(Approval.objects.values_list("status", flat=True)) == {Approval.Status.CLOSED}


def test_each_held_back_decision_aws_still_refuses_counts_as_an_error_and_is_logged(step_functions, operator, caplog):
    long_ago = timezone.now() - timedelta(minutes=5)
    held = [decided(f"held-{index}", actor=operator, decided_at=long_ago) for index in range(2)]
    for _ in held:
        step_functions.add_client_error(
            "send_task_success", service_error_code="ServiceUnavailable", http_status_code=503
        )

    with caplog.at_level(logging.ERROR, logger="workflows.approvals"):
        assert approval_sweep() == swept(errors=2)

    assert sorted(logged_messages(caplog)) == sorted(
        f"sweep: the decision on approval {approval.pk} is still undelivered" for approval in held
    )


def test_the_sweep_reads_who_decided_with_the_held_back_decisions(step_functions, operator, second_operator):
    """Four-eyes decisions (two approvers each): SELECTs do not grow with their number."""
    long_ago = timezone.now() - timedelta(minutes=5)

    def sweep_selects(count: int) -> int:
        Approval.objects.all().delete()
        for index in range(count):
            decided(
                f"four-eyes-{count}-{index}",
                actor=second_operator,
                decided_at=long_ago,
                total=BIG,
                first_approved_by=operator,
                first_approved_at=long_ago,
            )
            step_functions.add_response("send_task_success", {}, {"taskToken": ANY, "output": ANY})
        with CaptureQueriesContext(connection) as queries:
            assert approval_sweep() == swept(redelivered=count)
        return selects(queries)

    assert sweep_selects(3) == sweep_selects(1)


def test_a_task_gone_after_a_decision_by_someone_since_removed_says_so(step_functions, operator):
    from django.contrib.auth import get_user_model

    ghost = get_user_model().objects.create_user(username="gone-operator")
    approval = decided("ghost", actor=ghost, decided_at=timezone.now())
    get_user_model().objects.filter(pk=ghost.pk).delete()
    approval.refresh_from_db()
    step_functions.add_client_error("send_task_success", service_error_code="InvalidToken")

    with pytest.raises(ApprovalNotPending) as refused:
        approval_deliver(approval=approval)

    assert refused.value.approval.pk == approval.pk  # what a bulk approve reports it with
    approval.refresh_from_db()
    detail = (
        "Approved by someone, but Step Functions answered InvalidToken: the task is no longer open, "
        "so nothing was resumed."
    )
    assert (approval.status, approval.outcome_detail) == (Approval.Status.INVALID, detail)
    [entry] = entries(approval)
    assert (entry.action, entry.reason, entry.before, entry.after) == (
        "approval.task_not_open",
        detail,
        {"status": "APPROVED"},
        {"status": "INVALID"},
    )
    assert Order.objects.get(pk=approval.order_id).status == OrderStatus.FAILED


def test_a_decision_by_someone_since_removed_is_still_delivered_naming_nobody(operator):
    from django.contrib.auth import get_user_model

    ghost = get_user_model().objects.create_user(username="gone-operator")
    approval = decided("ghost", actor=ghost, decided_at=timezone.now())
    get_user_model().objects.filter(pk=ghost.pk).delete()
    approval.refresh_from_db()

    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        approval_deliver(approval=approval)

    send.assert_called_once_with(task_token="ghost", output={"approved": True, "approvedBy": "", "note": "checked"})
    assert Approval.objects.get(pk=approval.pk).delivered_at is not None


def test_a_four_eyes_decision_whose_first_approver_was_removed_is_delivered_naming_the_second_only(
    operator, second_operator
):
    first_at = timezone.now() - timedelta(minutes=5)
    approval = decided(
        "four-eyes",
        actor=second_operator,
        decided_at=timezone.now(),
        total=BIG,
        first_approved_by=operator,
        first_approved_at=first_at,
        first_note="first look",
    )
    operator.delete()
    approval.refresh_from_db()

    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        approval_deliver(approval=approval)

    assert send.call_args.kwargs["output"]["approvals"] == [
        {"by": "", "at": first_at.isoformat(), "note": "first look"},
        {"by": "oscar-operator", "at": approval.decided_at.isoformat(), "note": "checked"},
    ]
    assert AuditEntry.objects.get(action="approval.approve").after["approvers"] == ["", "oscar-operator"]
