"""Approval emails: signed, expiring links bound to the approval, without the task token;
opening a link decides nothing, only a logged-in operator's POST does."""

import re
from unittest import mock

import pytest
from django.core import mail, signing
from django.urls import reverse

from tests.conftest import csrf_post
from tests.workflows.conftest import make_pending_approval
from workflows.approvals.notifications import approval_link_token
from workflows.handlers import approval_tasks
from workflows.models import Approval

pytestmark = pytest.mark.django_db
TOKEN = "AAAAKgAAAAIAAAAAAAAAAVeryLongSecretTaskToken=="


def link_path(approval: Approval, decision: str) -> str:
    return reverse("admin:workflows_approval_link", args=[approval_link_token(approval=approval, decision=decision)])


def test_a_new_approval_emails_the_approvers_with_links_and_no_token(
    operator, second_operator, support_user, django_capture_on_commit_callbacks
):
    from tests.factories import OrderFactory

    operator.email, second_operator.email, support_user.email = "olivia@example.com", "", "sam@example.com"
    for user in (operator, second_operator, support_user):
        user.save()
    order = OrderFactory(status="VALIDATED")
    body = {
        "step": "RequestApproval",
        "orderId": str(order.pk),
        "taskToken": TOKEN,
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing:{order.pk}",
        "timeoutSeconds": 3600,
        "heartbeatSeconds": 600,
    }
    import json

    event = {"Records": [{"messageId": "m1", "body": json.dumps(body), "eventSourceARN": "arn:aws:sqs:x"}]}
    with django_capture_on_commit_callbacks(execute=True):
        assert approval_tasks(event) == {"batchItemFailures": []}
    approval = Approval.objects.get()
    assert approval.heartbeat_seconds == 600 and approval.expires_at is not None

    (message,) = mail.outbox
    assert message.bcc == ["olivia@example.com"]  # the only approver with an address
    assert str(order.pk)[:8] in message.subject
    html = message.alternatives[0][0]
    for text in (message.body, html):
        assert TOKEN not in text and approval.token_sha256 not in text
    links = re.findall(r"http://[^\s\"]+/workflows/approval/link/[^\s\"/]+/", message.body)
    assert len(links) == 2


def test_opening_a_link_shows_a_confirmation_and_decides_nothing(operator, client):
    approval = make_pending_approval(TOKEN)
    url = link_path(approval, "approve")
    client.force_login(operator)
    with mock.patch("workflows.sfn.send_task_success") as send:
        page = client.get(url)
        head = client.head(url)
    send.assert_not_called()
    assert page.status_code == 200 and head.status_code == 200
    assert "Nothing has been decided yet" in page.content.decode() and "Approve order" in page.content.decode()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING


def test_a_scanner_without_a_session_is_sent_to_the_login_page(client):
    approval = make_pending_approval(TOKEN)
    url = link_path(approval, "approve")
    with mock.patch("workflows.sfn.send_task_success") as send:
        for response in (client.get(url), client.head(url), client.post(url)):
            assert response.status_code == 302 and "/login/" in response["Location"]
    send.assert_not_called()


def test_a_post_from_an_operator_decides(operator, console_client):
    approval = make_pending_approval(TOKEN)
    url = link_path(approval, "approve")
    console_client.force_login(operator)
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        response = csrf_post(console_client, url, url, {"note": "from my phone"})
    assert response.status_code == 302
    assert send.call_args.kwargs["output"]["note"] == "from my phone"
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.APPROVED


def test_a_reject_link_needs_a_reason(operator, console_client):
    approval = make_pending_approval(TOKEN)
    url = link_path(approval, "reject")
    console_client.force_login(operator)
    with mock.patch("workflows.sfn.send_task_failure", return_value="req") as fail:
        empty = csrf_post(console_client, url, url, {"reason": ""})
        assert empty.status_code == 400 and "needs a reason" in empty.content.decode()
        fail.assert_not_called()
        csrf_post(console_client, url, url, {"reason": "address is a parcel locker"})
    assert fail.call_args.kwargs["cause"].endswith("address is a parcel locker")


def test_users_without_the_permission_cannot_decide_by_link(support_user, console_client):
    approval = make_pending_approval(TOKEN)
    url = link_path(approval, "approve")
    console_client.force_login(support_user)
    page = console_client.get(url)
    assert page.status_code == 403 and "do not have permission" in page.content.decode()
    with mock.patch("workflows.sfn.send_task_success") as send:
        assert csrf_post(console_client, reverse("admin:workflows_approval_changelist"), url).status_code == 403
    send.assert_not_called()


def test_altered_expired_or_foreign_links_are_refused(operator, client, settings):
    approval = make_pending_approval(TOKEN)
    other = make_pending_approval("other-token")
    client.force_login(operator)
    token = approval_link_token(approval=approval, decision="approve")

    altered = client.get(reverse("admin:workflows_approval_link", args=[token[:-2] + "xx"]))
    assert altered.status_code == 400 and "not valid" in altered.content.decode()

    forged = signing.dumps({"a": other.pk, "d": "approve", "r": approval.requested_at.timestamp()}, salt="other")
    assert client.get(reverse("admin:workflows_approval_link", args=[forged])).status_code == 400

    # Bound to the approval: the same id with another request time belongs to nothing here.
    moved = signing.dumps(
        {"a": approval.pk, "d": "approve", "r": other.requested_at.timestamp() + 60},
        salt="workflows.approval-link",
        compress=True,
    )
    assert "does not belong" in client.get(reverse("admin:workflows_approval_link", args=[moved])).content.decode()

    settings.APPROVAL_LINK_MAX_AGE_SECONDS = -1
    expired = client.get(reverse("admin:workflows_approval_link", args=[token]))
    assert expired.status_code == 400 and "expired" in expired.content.decode()


def test_a_link_to_a_decided_approval_says_who_decided(operator, second_operator, client):
    approval = make_pending_approval(TOKEN)
    with mock.patch("workflows.sfn.send_task_success", return_value="req"):
        from workflows.approvals import approval_decide

        approval_decide(approval_id=approval.pk, approve=True, actor=second_operator)
    client.force_login(operator)
    page = client.get(link_path(approval, "approve")).content.decode()
    assert "Approved" in page and "oscar-operator" in page and ">Approve order<" not in page
