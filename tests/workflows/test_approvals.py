"""Approval decisions: once, permission-checked, POST with CSRF, and plain answers when
the task can no longer be completed."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from orders.lifecycle import OrderStatus
from tests.conftest import csrf_post
from tests.factories import OrderFactory
from workflows import sfn
from workflows.approvals import ApprovalNotPending, ReasonRequired, approval_decide
from workflows.models import Approval, Execution, token_digest


def make_approval(token: str = "token-1", **order_fields) -> Approval:
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL, **order_fields)
    execution = Execution.objects.create(
        order=order,
        name=f"order-{order.pk}",
        arn=f"arn:aws:states:us-east-1:123456789012:execution:m:order-{order.pk}",
        state_machine="order-processing",
        status=Execution.Status.RUNNING,
    )
    return Approval.objects.create(
        order=order,
        execution=execution,
        state_name="RequestApproval",
        task_token=token,
        token_sha256=token_digest(token),
    )


@pytest.mark.django_db
def test_a_rejection_needs_a_reason(operator):
    approval = make_approval()
    with mock.patch("workflows.sfn.send_task_failure") as send:
        with pytest.raises(ReasonRequired):
            approval_decide(approval_id=approval.pk, approve=False, actor=operator, reason="   ")
    send.assert_not_called()
    approval.refresh_from_db()
    assert approval.status == Approval.Status.PENDING


@pytest.mark.django_db
def test_an_expired_approval_is_refused_without_calling_aws(operator):
    approval = make_approval()
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with mock.patch("workflows.sfn.send_task_success") as send:
        with pytest.raises(ApprovalNotPending, match="expired"):
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    send.assert_not_called()
    approval.refresh_from_db()
    assert approval.status == Approval.Status.EXPIRED
    assert approval.order.status == OrderStatus.AWAITING_APPROVAL


@pytest.mark.django_db
def test_an_approval_whose_execution_ended_is_closed_without_calling_aws(operator):
    approval = make_approval()
    Execution.objects.filter(pk=approval.execution_id).update(status=Execution.Status.TIMED_OUT)
    with mock.patch("workflows.sfn.send_task_success") as send:
        with pytest.raises(ApprovalNotPending, match="no longer waits"):
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    send.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.CLOSED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("aws_code", "status"),
    [
        ("TaskTimedOut", Approval.Status.EXPIRED),
        ("TaskDoesNotExist", Approval.Status.CLOSED),
        ("InvalidToken", Approval.Status.INVALID),
    ],
)
def test_aws_answers_that_the_task_is_gone_become_plain_statuses(operator, aws_code, status):
    """AWS's documented answers, given by botocore's Stubber on a real client."""
    from botocore.stub import Stubber

    from console.aws import clients as aws

    approval = make_approval()
    client = aws.client("stepfunctions")
    with Stubber(client) as stubber:
        stubber.add_client_error("send_task_success", service_error_code=aws_code, service_message="gone")
        with pytest.raises(ApprovalNotPending) as raised:
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        stubber.assert_no_pending_responses()
    approval.refresh_from_db()
    assert approval.status == status
    assert aws_code in str(raised.value)
    # The order was approved in our records, but the workflow never resumed: it failed.
    approval.order.refresh_from_db()
    assert approval.order.status == OrderStatus.FAILED


@pytest.mark.django_db
def test_a_transient_aws_error_keeps_the_decision_for_redelivery(operator):
    from botocore.stub import Stubber

    from console.aws import clients as aws
    from workflows.approvals import approval_deliver

    approval = make_approval()
    client = aws.client("stepfunctions")
    with Stubber(client) as stubber:
        stubber.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(Exception, match="ServiceUnavailable"):
            approval_decide(approval_id=approval.pk, approve=True, actor=operator)
        approval.refresh_from_db()
        assert approval.status == Approval.Status.APPROVED and approval.delivered_at is None
        stubber.add_response("send_task_success", {}, {"taskToken": "token-1", "output": mock.ANY})
        approval_deliver(approval=approval)
    approval.refresh_from_db()
    assert approval.delivered_at is not None


@pytest.mark.django_db
def test_approving_records_who_and_sends_the_note(operator):
    approval = make_approval()
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1") as send:
        approval_decide(approval_id=approval.pk, approve=True, actor=operator, reason="known customer")
    send.assert_called_once_with(
        task_token="token-1", output={"approved": True, "approvedBy": "olivia-operator", "note": "known customer"}
    )
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.aws_request_id) == (
        Approval.Status.APPROVED,
        operator,
        "req-1",
    )
    assert approval.order.status == OrderStatus.APPROVED
    from console.models import AuditEntry

    entry = AuditEntry.objects.get(action="approval.approve")
    assert entry.actor == operator and entry.aws_request_id == "req-1" and entry.reason == "known customer"


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_make_one_decision_and_one_call(operator, second_operator):
    approval = make_approval()
    calls = []
    barrier = threading.Barrier(8)
    outcomes = []

    def fake_send(**kwargs):
        calls.append(kwargs)
        return "req"

    def decide(index: int) -> None:
        barrier.wait()
        try:
            approval_decide(
                approval_id=approval.pk,
                approve=index % 2 == 0,
                actor=operator if index % 2 else second_operator,
                reason="r",
            )
            outcomes.append("decided")
        except ApprovalNotPending:
            outcomes.append("refused")
        finally:
            connection.close()

    with (
        mock.patch("workflows.sfn.send_task_success", side_effect=fake_send),
        mock.patch("workflows.sfn.send_task_failure", side_effect=fake_send),
    ):
        threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes.count("decided") == 1 and outcomes.count("refused") == 7
    assert len(calls) == 1


@pytest.mark.django_db
def test_only_users_with_the_decide_permission_can_approve(support_user, console_client):
    approval = make_approval()
    console_client.force_login(support_user)
    url = reverse("admin:workflows_approval_approve", args=[approval.pk])
    with mock.patch("workflows.sfn.send_task_success") as send:
        response = csrf_post(console_client, reverse("admin:workflows_approval_changelist"), url)
    assert response.status_code == 403
    send.assert_not_called()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    # The inbox shows no decision buttons to them.
    page = console_client.get(reverse("admin:workflows_approval_change", args=[approval.pk]))
    assert b"you do not have permission to decide" in page.content


@pytest.mark.django_db
def test_approve_is_post_only_and_needs_csrf(operator, console_client):
    approval = make_approval()
    console_client.force_login(operator)
    url = reverse("admin:workflows_approval_approve", args=[approval.pk])
    with mock.patch("workflows.sfn.send_task_success") as send:
        assert console_client.get(url).status_code == 405
        assert console_client.post(url).status_code == 403  # no CSRF token
    send.assert_not_called()


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_login_page(client):
    approval = make_approval()
    response = client.post(reverse("admin:workflows_approval_approve", args=[approval.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_the_inbox_lists_pending_approvals_oldest_first_with_buttons(operator, console_client):
    first = make_approval("t-1", user_id="first-customer")
    second = make_approval("t-2", user_id="second-customer")
    decided = make_approval("t-3", user_id="decided-customer")
    Approval.objects.filter(pk=decided.pk).update(status=Approval.Status.APPROVED)
    console_client.force_login(operator)
    page = console_client.get(reverse("admin:workflows_approval_changelist")).content.decode()
    assert page.index("first-customer") < page.index("second-customer")
    assert "decided-customer" not in page
    assert page.count(">Approve</button>") == 2
    assert f"{first.pk}/approve/" in page and f"{second.pk}/reject/" in page
    assert "t-1" not in page  # task tokens are never shown


@pytest.mark.stack
@pytest.mark.django_db
def test_a_token_the_engine_does_not_know_is_marked_invalid(stack, operator):
    approval = make_approval("not-a-token-the-engine-issued")
    with pytest.raises(ApprovalNotPending, match="InvalidToken|TaskTimedOut"):
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    approval.refresh_from_db()
    assert approval.status in {Approval.Status.INVALID, Approval.Status.EXPIRED}


def test_task_errors_map_to_plain_meanings():
    assert sfn.TaskExpired.status == "expired"
    assert sfn.TaskClosed.status == "closed"
    assert sfn.TaskTokenInvalid.status == "invalid"


@pytest.mark.django_db
def test_the_approval_page_shows_only_the_decision_facts_there_are(operator, console_client):
    approval = make_approval()
    console_client.force_login(operator)
    url = reverse("admin:workflows_approval_change", args=[approval.pk])

    pending = console_client.get(url).content.decode()
    assert "Claim and decision" not in pending and "Decided by" not in pending
    assert "Step Functions" in pending and "Heartbeat seconds" in pending  # folded, still there

    with mock.patch("workflows.sfn.send_task_failure", return_value="request-1"):
        approval_decide(approval_id=approval.pk, approve=False, actor=operator, reason="customer asked")
    decided = console_client.get(url).content.decode()
    assert "Claim and decision" in decided and "Decided by" in decided and "customer asked" in decided
    assert "First approved by" not in decided  # a one-approver rejection has no first approval
