"""Closed approvals (decided, expired) in the console: how long they waited until they
closed, and no expiry; only pending ones count waiting time."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.workflows.conftest import make_pending_approval
from workflows.models import Approval

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:workflows_approval_changelist")


def page_of(approval: Approval) -> str:
    return reverse("admin:workflows_approval_change", args=[approval.pk])


def row_of(page: str, approval: Approval) -> str:
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    return next(row for row in rows if f'title="{approval.order_id}"' in row)


def test_a_decided_approval_shows_how_long_it_waited_and_no_expiry(operator, client):
    approval = make_pending_approval("done")
    requested = timezone.now() - timedelta(days=2)
    Approval.objects.filter(pk=approval.pk).update(
        requested_at=requested,
        expires_at=timezone.now() + timedelta(days=6),
        status=Approval.Status.APPROVED,
        decided_by=operator,
        decided_at=requested + timedelta(hours=3),
    )
    client.force_login(operator)
    row = row_of(client.get(INBOX, {"status": "all"}).content.decode(), approval)
    assert "waited 3\xa0hours" in row or "waited 3 hours" in row
    assert "in 6" not in row and "6\xa0days" not in row  # no "Expires in 6 days"
    page = client.get(page_of(approval)).content.decode()
    assert "Waiting since" not in page and "field-expires_at" not in page
    assert re.search(r"waited 3(\xa0| )hours, until", page)


def test_an_expired_approval_waited_until_it_expired(operator, client):
    approval = make_pending_approval("expired")
    requested = timezone.now() - timedelta(days=9)
    Approval.objects.filter(pk=approval.pk).update(
        requested_at=requested, expires_at=requested + timedelta(days=7), status=Approval.Status.EXPIRED
    )
    client.force_login(operator)
    row = row_of(client.get(INBOX, {"status": "all"}).content.decode(), approval)
    assert re.search(r"waited 1(\xa0| )week", row) and "expired</span>" not in row


def test_a_pending_approval_still_counts_its_waiting_time_and_expiry(operator, client):
    approval = make_pending_approval("pending")
    Approval.objects.filter(pk=approval.pk).update(
        requested_at=timezone.now() - timedelta(hours=2), expires_at=timezone.now() + timedelta(days=6)
    )
    client.force_login(operator)
    row = row_of(client.get(INBOX).content.decode(), approval)
    assert re.search(r">2(\xa0| )hours<", row) and re.search(r"in [56](\xa0| )days", row) and "waited" not in row
