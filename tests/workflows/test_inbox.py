"""The approval inbox in the console: what a row shows, filters and search, claim and
assign, bulk approve with its confirmation step."""

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
from workflows.models import Approval

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:workflows_approval_changelist")


def rows(page: str) -> list[str]:
    return re.findall(r'class="approval-order" title="([0-9a-f-]+)"', page)


def test_a_row_shows_the_order_summary_amount_waiting_and_expiry(operator, console_client):
    approval = make_pending_approval("t", user_id="customer-zoe", total=Decimal("9000"))
    Approval.objects.filter(pk=approval.pk).update(
        requested_at=timezone.now() - timedelta(hours=3), expires_at=timezone.now() + timedelta(minutes=30)
    )
    console_client.force_login(operator)
    page = console_client.get(INBOX).content.decode()
    assert "customer-zoe" in page and "1 × Widget" in page and "9000.00" in page
    assert "four-eyes" in page
    assert "3\xa0hours" in page  # waiting
    assert 'class="expires-soon"' in page and "in 29\xa0minutes" in page
    assert ">Claim</button>" in page and "Assign…" in page and ">Approve</button>" in page


def test_search_by_a_whole_order_id_or_its_first_characters(operator, console_client):
    first = make_pending_approval("a")
    make_pending_approval("b")
    console_client.force_login(operator)
    for term in (str(first.order_id), str(first.order_id)[:8], str(first.order_id).upper()[:6]):
        assert rows(console_client.get(INBOX, {"q": term}).content.decode()) == [str(first.order_id)], term
    assert rows(console_client.get(INBOX, {"q": "not-an-id"}).content.decode()) == []


def test_filters_by_claim_and_four_eyes(operator, second_operator, console_client):
    mine = make_pending_approval("a")
    theirs = make_pending_approval("b", total=Decimal("9000"))
    free = make_pending_approval("c")
    Approval.objects.filter(pk=mine.pk).update(claimed_by=operator, claimed_at=timezone.now())
    Approval.objects.filter(pk=theirs.pk).update(claimed_by=second_operator, claimed_at=timezone.now())
    console_client.force_login(operator)

    def shown(**query) -> list[str]:
        return rows(console_client.get(INBOX, query).content.decode())

    assert shown(claimed="me") == [str(mine.order_id)]
    assert shown(claimed="others") == [str(theirs.order_id)]
    assert shown(claimed="unclaimed") == [str(free.order_id)]
    assert shown(four_eyes="yes") == [str(theirs.order_id)]
    assert shown() == [str(a.order_id) for a in (mine, theirs, free)]  # oldest first


def test_claiming_from_the_inbox_and_a_colleague_is_told(operator, second_operator, console_client):
    approval = make_pending_approval("t")
    console_client.force_login(operator)
    response = csrf_post(console_client, INBOX, reverse("admin:workflows_approval_claim", args=[approval.pk]))
    assert response.status_code == 302
    assert Approval.objects.get(pk=approval.pk).claimed_by == operator

    console_client.force_login(second_operator)
    page = console_client.get(INBOX).content.decode()
    # Her claim is hers: no Release button for a colleague, and the reason instead of a refusal later.
    assert "olivia-operator" in page and ">Release</button>" not in page
    assert "Claimed by olivia-operator: only they or an admin can release it." in page
    with mock.patch("workflows.sfn.send_task_success") as send:
        refused = csrf_post(console_client, INBOX, reverse("admin:workflows_approval_approve", args=[approval.pk]))
    send.assert_not_called()
    assert "Claimed by olivia-operator" in console_client.get(refused["Location"]).content.decode()


def test_assigning_from_the_console_offers_only_colleagues_who_may_decide(
    operator, second_operator, support_user, console_client
):
    approval = make_pending_approval("t")
    url = reverse("admin:workflows_approval_assign", args=[approval.pk])
    console_client.force_login(operator)
    page = console_client.get(url).content.decode()
    assert "oscar-operator" in page and "sam-support" not in page
    bad = csrf_post(console_client, url, url, {"assignee": str(support_user.pk)})
    assert bad.status_code == 400 and "Choose a colleague" in bad.content.decode()
    good = csrf_post(console_client, url, url, {"assignee": str(second_operator.pk)})
    assert good.status_code == 302
    assert Approval.objects.get(pk=approval.pk).claimed_by == second_operator


def test_bulk_approve_shows_a_confirmation_then_approves(operator, second_operator, console_client):
    plain = make_pending_approval("a")
    big = make_pending_approval("b", total=Decimal("9000"))
    claimed = make_pending_approval("c")
    Approval.objects.filter(pk=claimed.pk).update(claimed_by=second_operator, claimed_at=timezone.now())
    console_client.force_login(operator)
    selected = {"action": "approve_selected", "_selected_action": [plain.pk, big.pk, claimed.pk]}
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        confirm = csrf_post(console_client, INBOX, INBOX, selected)
        assert confirm.status_code == 200
        page = confirm.content.decode()
        assert "Approve these orders?" in page and "Yes, approve 2" in page
        assert "records the first of two approvals" in page and "Claimed by oscar-operator: skipped" in page
        send.assert_not_called()  # nothing happens before the confirmation
        assert Approval.objects.filter(status=Approval.Status.PENDING).count() == 3

        done = csrf_post(console_client, INBOX, INBOX, {**selected, "confirm": "yes", "note": "batch"})
    assert done.status_code == 302
    assert send.call_count == 1
    assert Approval.objects.get(pk=plain.pk).status == Approval.Status.APPROVED
    big.refresh_from_db()
    assert big.is_pending and big.first_approved_by == operator
    text = console_client.get(done["Location"]).content.decode()
    assert "Approved 1 order(s)" in text and "First approval recorded for 1 four-eyes order(s)" in text
    assert "Claimed by oscar-operator" in text


def test_support_staff_see_the_inbox_but_cannot_act(support_user, console_client):
    approval = make_pending_approval("t")
    console_client.force_login(support_user)
    page = console_client.get(INBOX).content.decode()
    assert 'value="approve_selected"' not in page
    for name in ("claim", "unclaim"):
        response = csrf_post(console_client, INBOX, reverse(f"admin:workflows_approval_{name}", args=[approval.pk]))
        assert response.status_code == 403
    assert console_client.get(reverse("admin:workflows_approval_assign", args=[approval.pk])).status_code == 403
    assert Approval.objects.get(pk=approval.pk).claimed_by is None


def test_the_inbox_query_count_does_not_grow_with_rows(operator, django_assert_max_num_queries):
    for index in range(3):
        make_pending_approval(f"q{index}")
    with django_assert_max_num_queries(3):
        three = [selectors.items_summary(list(a.order.items.all())) for a in selectors.approval_list()]
    for index in range(3, 12):
        make_pending_approval(f"q{index}")
    with django_assert_max_num_queries(3):
        twelve = [selectors.items_summary(list(a.order.items.all())) for a in selectors.approval_list()]
    assert len(three) == 3 and len(twelve) == 12
