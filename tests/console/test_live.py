"""Live regions (console.pages.live): a poll answers its region alone with a strong ETag, or
304 with no body; permissions hold; the session and the messages are left alone."""

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.pages.live import region_etag
from tests.conftest import csrf_post, make_user
from tests.workflows.conftest import make_pending_approval
from workflows.models import Approval

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:workflows_approval_changelist")


@pytest.fixture(autouse=True)
def _no_remembered_fingerprints():
    cache.clear()
    yield
    cache.clear()


def poll(client, url: str, region: str, etag: str | None = None, **query):
    headers = {"HTTP_X_LIVE_REGION": region, "HTTP_HX_REQUEST": "true"}
    if etag:
        headers["HTTP_IF_NONE_MATCH"] = etag
    return client.get(url, query, **headers)


def page_etag(html: str, region: str) -> str:
    found = re.search(rf'id="live-{region}"[^>]*data-live-etag="([^"]+)"', html)
    assert found, f"no live region {region} on the page"
    return found.group(1).replace("&quot;", '"')


def test_a_page_marks_its_region_to_poll_itself(operator, console_client):
    make_pending_approval("a")
    console_client.force_login(operator)
    html = console_client.get(INBOX, {"claimed": "me"}).content.decode()
    region = re.search(r'<div id="live-changelist"[^>]*>', html).group(0)
    assert 'hx-get="/workflows/approval/?claimed=me"' in region
    assert 'hx-trigger="every 3s, live-refresh"' in region and 'hx-swap="outerHTML"' in region
    assert "X-Live-Region" in region
    # htmx and the live script are our own static files; htmx runs without eval.
    assert "console/vendor/htmx.org/htmx.min.js" in html and "console/live.js" in html
    assert '"allowEval":false' in html and '{"code":"304","swap":false}' in html


def test_a_poll_answers_the_region_alone_with_its_etag(operator, console_client):
    approval = make_pending_approval("a")
    console_client.force_login(operator)
    html = console_client.get(INBOX).content.decode()
    etag = page_etag(html, "changelist")

    response = poll(console_client, INBOX, "changelist")

    assert response.status_code == 200
    assert response["ETag"] == etag and etag.startswith('"') and not etag.startswith("W/")
    body = response.content.decode()
    assert body.startswith('<div id="live-changelist"') and body.endswith("</div>")
    assert "<html" not in body and "<head" not in body and 'id="changelist-filter"' not in body
    assert str(approval.order_id) in body and "1 approval" in body  # the rows and their count
    assert "no-store" in response["Cache-Control"]


def test_an_unchanged_region_answers_304_with_no_body(operator, console_client):
    make_pending_approval("a")
    console_client.force_login(operator)
    etag = poll(console_client, INBOX, "changelist")["ETag"]

    response = poll(console_client, INBOX, "changelist", etag=etag)

    assert response.status_code == 304
    assert response.content == b"" and response["ETag"] == etag


def test_a_changed_row_changes_the_etag(operator, second_operator, console_client):
    approval = make_pending_approval("a")
    console_client.force_login(operator)
    etag = poll(console_client, INBOX, "changelist")["ETag"]

    Approval.objects.filter(pk=approval.pk).update(claimed_by=second_operator, claimed_at=timezone.now())
    claimed = poll(console_client, INBOX, "changelist", etag=etag)
    assert claimed.status_code == 200 and claimed["ETag"] != etag
    assert "oscar-operator" in claimed.content.decode()

    arrived = make_pending_approval("b")
    again = poll(console_client, INBOX, "changelist", etag=claimed["ETag"])
    assert again.status_code == 200 and str(arrived.order_id) in again.content.decode()


def test_the_inbox_answers_an_unchanged_poll_from_one_aggregate_query(operator, console_client):
    make_pending_approval("a")
    console_client.force_login(operator)
    etag = poll(console_client, INBOX, "changelist")["ETag"]

    with CaptureQueriesContext(connection) as short_cut:
        assert poll(console_client, INBOX, "changelist", etag=etag).status_code == 304
    with CaptureQueriesContext(connection) as rendered:
        assert poll(console_client, INBOX, "changelist").status_code == 200
    # The session, the user and its permissions, then one query on approvals: no page rendered.
    on_approvals = [q["sql"] for q in short_cut.captured_queries if "workflows_approval" in q["sql"]]
    assert len(on_approvals) == 1 and "COUNT" in on_approvals[0].upper()
    assert len(short_cut.captured_queries) < len(rendered.captured_queries)


def test_a_fingerprint_remembered_for_one_user_is_not_another_users_304(operator, second_operator, client):
    make_pending_approval("a")
    client.force_login(operator)
    etag = poll(client, INBOX, "changelist")["ETag"]
    client.force_login(second_operator)
    # The same rows show the same HTML, so the ETag matches; the short cut is per user, so
    # this poll renders the page (with the second operator's permissions) before answering.
    with CaptureQueriesContext(connection) as queries:
        assert poll(client, INBOX, "changelist", etag=etag).status_code == 304
    assert any("workflows_approval" in q["sql"] and "ORDER BY" in q["sql"] for q in queries.captured_queries)


def test_permissions_are_checked_on_a_poll(operator, client):
    make_pending_approval("a")
    client.force_login(operator)
    etag = poll(client, INBOX, "changelist")["ETag"]
    outsider = make_user("nina-nobody", None)
    client.force_login(outsider)

    refused = poll(client, INBOX, "changelist", etag=etag)

    assert refused.status_code == 403
    assert b"live-changelist" not in refused.content


def test_a_poll_after_the_session_ended_reloads_the_page(operator, client):
    client.force_login(operator)
    etag = poll(client, INBOX, "changelist")["ETag"]
    client.logout()

    response = poll(client, INBOX, "changelist", etag=etag)

    # No region, no 304 from a remembered ETag: the page reloads and lands on the login.
    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    assert response.content == b""


def test_a_region_the_page_does_not_have_is_never_answered(operator, console_client):
    console_client.force_login(operator)
    response = poll(console_client, INBOX, "dashboard")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    assert poll(console_client, INBOX, "Not a name!").status_code == 200  # an ordinary page
    assert b"<html" in poll(console_client, INBOX, "Not a name!").content


def test_what_differs_between_two_renders_of_the_same_data_is_not_content(operator, console_client):
    approval = make_pending_approval("a")
    console_client.force_login(operator)
    url = reverse("admin:workflows_approval_change", args=[approval.pk])
    first, second = poll(console_client, url, "approval"), poll(console_client, url, "approval")
    # Each render masks the CSRF token differently; the ETag is the same.
    tokens = [re.search(r'csrfmiddlewaretoken" value="([^"]+)"', r.content.decode()).group(1) for r in (first, second)]
    assert tokens[0] != tokens[1]
    assert first["ETag"] == second["ETag"]
    signed = 'src="https://b.s3.amazonaws.com/t.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&amp;X-Amz-Date={}&amp;X-Amz-Signature={}"'
    assert region_etag("a", signed.format("20250101T000000Z", "ab12")) == region_etag(
        "a", signed.format("20250101T000003Z", "cd34")
    )
    assert region_etag("a", "<td>PENDING</td>") != region_etag("a", "<td>APPROVED</td>")


def test_a_poll_neither_renews_the_session_nor_takes_the_pages_messages(operator, console_client):
    approval = make_pending_approval("a")
    console_client.force_login(operator)
    # An action whose message waits for the next page, as after its redirect.
    claimed = csrf_post(console_client, INBOX, reverse("admin:workflows_approval_claim", args=[approval.pk]))
    assert claimed.status_code == 302
    key = console_client.session.session_key
    earlier = Session.objects.get(session_key=key).expire_date - timedelta(minutes=30)
    Session.objects.filter(session_key=key).update(expire_date=earlier)

    response = poll(console_client, INBOX, "changelist")

    assert response.status_code == 200
    assert "sessionid" not in response.cookies and "messages" not in response.cookies
    assert Session.objects.get(session_key=key).expire_date == earlier
    shown = console_client.get(INBOX).content.decode()
    assert 'class="success"' in shown or "messagelist" in shown


def test_a_page_answering_a_post_does_not_poll(operator, console_client):
    make_pending_approval("a")
    console_client.force_login(operator)
    page = console_client.get(INBOX).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    # The action's confirmation page is rendered for a POST: a region there never polls.
    response = console_client.post(
        INBOX,
        {"action": "approve_selected", "_selected_action": [Approval.objects.get().pk], "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 200
    assert "hx-get" not in response.content.decode()
