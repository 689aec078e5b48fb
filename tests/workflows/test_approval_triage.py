"""Working through approvals in the console: buttons shown only as usable as they are, one
landing after a decision, previous/next pending on an approval's page with its keyboard
shortcuts."""

import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import csrf_post
from tests.workflows.conftest import make_pending_approval
from workflows import selectors
from workflows.approvals import approval_actions, approval_claim, approval_decide
from workflows.models import Approval

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:workflows_approval_changelist")


def page_of(approval: Approval) -> str:
    return reverse("admin:workflows_approval_change", args=[approval.pk])


def row_of(page: str, approval: Approval) -> str:
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    return next(row for row in rows if f'title="{approval.order_id}"' in row)


def oldest_first(count: int, **fields) -> list[Approval]:
    approvals = [make_pending_approval(f"triage-{index}", **fields) for index in range(count)]
    start = timezone.now() - timedelta(hours=count)
    for index, approval in enumerate(approvals):
        Approval.objects.filter(pk=approval.pk).update(requested_at=start + timedelta(minutes=index))
    return [Approval.objects.get(pk=a.pk) for a in approvals]


# --- Buttons a reader cannot use ------------------------------------------------------------


def test_the_first_approver_sees_approve_2nd_disabled_with_the_reason(operator, second_operator, client):
    approval = make_pending_approval("four", total=Decimal("9000"))
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1") as send:
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    send.assert_not_called()
    reason = "You gave the first approval; a second approver must decide."

    client.force_login(operator)
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert re.search(r"<button[^>]*disabled[^>]*>Approve \(2nd\)</button>", row)
    assert reason in row and 'formaction="' + reverse("admin:workflows_approval_approve", args=[approval.pk]) not in row
    assert 'class="button reject" href=' in row  # anyone may still reject
    page = client.get(page_of(approval)).content.decode()
    assert re.search(r'<button type="submit" class="button default" name="approve" disabled', page) and reason in page

    client.force_login(second_operator)
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert "disabled" not in row and ">Approve (2nd)</button>" in row and reason not in row


def test_a_colleagues_claim_shows_no_release_and_disabled_decisions_with_the_reason(
    operator, second_operator, admin_user, client
):
    approval = make_pending_approval("claimed")
    approval_claim(approval_id=approval.pk, actor=operator)

    client.force_login(second_operator)
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert ">Release</button>" not in row and "only they or an admin can release it" in row
    assert re.search(r"<button[^>]*disabled[^>]*>Approve</button>", row)
    assert re.search(r"<button[^>]*disabled[^>]*>Reject…</button>", row)
    assert "it is theirs to decide until released or assigned to you" in row
    assert ">Assign…</a>" not in row  # only they or an admin may pass it on
    page = client.get(page_of(approval)).content.decode()
    assert "Release claim" not in page and "only they or an admin can release it" in page

    client.force_login(operator)  # her own claim: everything usable
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert ">Release</button>" in row and "disabled" not in row

    client.force_login(admin_user)  # an admin may release anyone's claim
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert ">Release</button>" in row and ">Assign…</a>" in row


def test_the_actions_follow_the_services_rules(operator, second_operator, support_user):
    approval = make_pending_approval("rules", total=Decimal("9000"))
    assert approval_actions(approval=approval, actor=operator).approve == ""
    assert approval_actions(approval=approval, actor=support_user).approve == "You may not decide approvals."
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1"):
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    approval.refresh_from_db()
    mine = approval_actions(approval=approval, actor=operator)
    assert mine.approve and not mine.reject
    # What the page says is what the service answers:
    with pytest.raises(Exception, match="second approval by a different operator"):
        approval_decide(approval_id=approval.pk, approve=True, actor=operator)
    assert approval_actions(approval=approval, actor=second_operator).approve == ""


# --- One landing after a decision, and the way through the inbox ----------------------------


def test_approve_and_reject_on_an_approvals_page_both_land_on_the_next_pending_one(operator, client):
    first, second, third = oldest_first(3)
    client.force_login(operator)
    page = client.get(page_of(first)).content.decode()
    assert '<input type="hidden" name="after" value="next">' in page
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1"):
        approved = csrf_post(
            client, page_of(first), reverse("admin:workflows_approval_approve", args=[first.pk]), {"after": "next"}
        )
    assert approved.status_code == 302 and approved["Location"] == page_of(second)
    landed = client.get(approved["Location"]).content.decode()
    assert "approved; the workflow has resumed" in landed  # the message, on the next approval's page

    reject_link = re.search(r'href="([^"]*/reject/[^"]*)"', landed).group(1).replace("&amp;", "&")
    assert "after=next" in reject_link
    with mock.patch("workflows.sfn.send_task_failure", return_value="req-2"):
        rejected = csrf_post(client, reject_link, reject_link, {"reason": "fraud", "after": "next"})
    assert rejected["Location"] == page_of(third)

    with mock.patch("workflows.sfn.send_task_success", return_value="req-1"):
        last = csrf_post(
            client, page_of(third), reverse("admin:workflows_approval_approve", args=[third.pk]), {"after": "next"}
        )
    assert last["Location"] == INBOX
    assert "No more approvals are waiting for you." in client.get(INBOX).content.decode()


def test_decisions_from_the_inbox_land_back_on_the_inbox(operator, client):
    approval = make_pending_approval("inbox")
    client.force_login(operator)
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1"):
        response = csrf_post(client, INBOX, reverse("admin:workflows_approval_approve", args=[approval.pk]))
    assert response["Location"] == INBOX


def test_a_refused_decision_stays_on_its_approval_to_say_why(operator, second_operator, client):
    first, second = oldest_first(2)
    approval_claim(approval_id=first.pk, actor=second_operator)
    client.force_login(operator)
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1") as send:
        response = csrf_post(
            client, page_of(second), reverse("admin:workflows_approval_approve", args=[first.pk]), {"after": "next"}
        )
    send.assert_not_called()
    assert response["Location"] == page_of(first)


def test_an_approvals_page_links_the_previous_and_next_pending_ones_open_to_the_reader(
    operator, second_operator, client
):
    first, taken, middle, last = oldest_first(4)
    approval_claim(approval_id=taken.pk, actor=second_operator)  # not hers to decide: skipped
    client.force_login(operator)
    page = client.get(page_of(middle)).content.decode()
    assert re.search(rf'id="approval-previous" rel="prev" href="{page_of(first)}"', page)
    assert re.search(rf'id="approval-next" rel="next" href="{page_of(last)}"', page)
    assert "(3 waiting)" in page
    # The shortcuts: listed on the page, in a static script (the CSP allows no inline one).
    assert "Keyboard shortcuts" in page and "<kbd>j</kbd>" in page and "<kbd>a</kbd>" in page
    assert re.search(r'<script src="/static/workflows/approval_shortcuts.js" defer></script>', page)
    inbox = client.get(INBOX).content.decode()
    assert "Keyboard shortcuts" in inbox and "approval_shortcuts.js" in inbox

    neighbours = selectors.approval_pending_neighbours(approval=first, open_to=operator)
    assert (neighbours.previous, neighbours.next, neighbours.oldest) == (None, middle, middle)
