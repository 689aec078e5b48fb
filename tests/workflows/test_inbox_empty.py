"""An empty inbox says what that means and where to look, not only "0 approvals"."""

import re

import pytest
from django.urls import reverse

from tests.workflows.conftest import make_pending_approval

pytestmark = pytest.mark.django_db


def empty_note(client, query: str = "") -> str:
    page = client.get(reverse("admin:workflows_approval_changelist") + query).content.decode()
    found = re.search(r'<p class="help inbox-empty" id="inbox-empty">(.*?)</p>', page, re.S)
    return " ".join(found.group(1).split()) if found else ""


def test_an_empty_inbox_explains_itself_and_links_to_decided_approvals(client, operator):
    client.force_login(operator)

    note = empty_note(client)

    assert note.startswith("Nothing waits for a decision")
    assert 'href="?status=all"' in note and reverse("admin:orders_order_changelist") in note


def test_a_search_that_finds_nothing_says_so_and_leads_back(client, operator):
    make_pending_approval("inbox-empty")
    client.force_login(operator)

    assert empty_note(client) == ""  # something waits: no note
    note = empty_note(client, "?q=ffffffff")
    assert note.startswith("No approval matches") and 'href="?"' in note


def test_an_inbox_emptied_while_open_says_so_in_its_next_update(client, operator):
    approval = make_pending_approval("inbox-emptied")
    client.force_login(operator)
    url = reverse("admin:workflows_approval_changelist")
    live = {"HTTP_X_LIVE_REGION": "changelist", "HTTP_HX_REQUEST": "true"}
    assert "Nothing waits" not in client.get(url, **live).content.decode()

    approval.status = approval.Status.APPROVED
    approval.save(update_fields=["status"])

    update = client.get(url, **live)
    assert update.status_code == 200 and "Nothing waits for a decision" in update.content.decode()
