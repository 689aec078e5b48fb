"""Live pages in Debian's Chromium: two operators' inboxes open, a decision in one shows in
the other within 5 s, without a reload and with its checked rows kept; a hidden tab does
not poll; a media asset turns from Processing to Ready in place. The console's CSP holds
throughout (tests/browser.py fails a journey on any violation)."""

import time

from media.models import MediaAsset
from media.services import media_asset_process
from tests.browser import JOURNEY_MARKS, log_in
from tests.conftest import wait_for
from tests.media.test_handlers import png_bytes
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval, wait_until_finished
from workflows.models import Approval

pytestmark = JOURNEY_MARKS
INBOX = "/workflows/approval/"


def inbox_row(page, order_id: str):
    return page.locator("#result_list tbody tr", has=page.locator(f'a[title="{order_id}"]'))


def live_polls(page) -> list[dict]:
    """Every live poll the page sends from now on, with its answer's status."""
    seen: list[dict] = []

    def on_response(response):
        if response.request.headers.get("x-live-region"):
            seen.append({"status": response.status, "etag": response.request.headers.get("if-none-match")})

    page.on("response", on_response)
    return seen


def test_a_decision_in_one_inbox_shows_in_another_within_5_s_and_keeps_its_selection(
    stack, live_server, api_token, operator, second_operator, browser, artifacts_dir
):
    decided_id = create_order(live_server, api_token, WIDGETS, user_id="live-first")
    kept_id = create_order(live_server, api_token, WIDGETS, user_id="live-second")
    decided = pending_approval(decided_id)
    pending_approval(kept_id)

    watcher = log_in(browser, live_server, second_operator, next_path=INBOX)
    approval_page = watcher.context.new_page()
    approval_page.goto(f"{live_server.url}/workflows/approval/{decided.pk}/change/")
    assert "Decision needed" in approval_page.locator("#live-approval").inner_text()
    polls = live_polls(watcher)
    watcher.evaluate("window.liveMarker = 'not reloaded'")
    # The watcher checks the row it will act on; the counter says so.
    inbox_row(watcher, kept_id).locator("input.action-select").check()
    assert watcher.locator("span.action-counter").inner_text().startswith("1 of 2")
    deciding = log_in(browser, live_server, operator, next_path=INBOX)

    inbox_row(deciding, decided_id).get_by_role("button", name="Approve").click()
    assert "approved" in deciding.locator(".messagelist").inner_text()
    approved_at = time.monotonic()

    wait_for(lambda: inbox_row(watcher, decided_id).count() == 0, timeout=5, interval=0.1, what="the row to go")
    seconds = time.monotonic() - approved_at
    print(f"decision shown in the other inbox after {seconds:.2f} s")
    kept = inbox_row(watcher, kept_id).locator("input.action-select")
    assert kept.is_checked(), "the checked row lost its selection"
    assert inbox_row(watcher, kept_id).get_attribute("class").split().count("selected") == 1
    assert watcher.locator("span.action-counter").inner_text().startswith("1 of 1")
    assert any(p["status"] == 304 for p in polls) or len(polls) < 3  # unchanged polls cost a 304
    assert all(p["etag"] for p in polls), "every poll is conditional"
    assert watcher.evaluate("window.liveMarker") == "not reloaded"

    # The approval's own page follows, to the end of the order's workflow.
    wait_for(
        lambda: "Approved" in approval_page.locator("#live-approval").inner_text(),
        timeout=5,
        interval=0.1,
        what="the approval page to show the decision",
    )
    assert wait_until_finished(decided_id) == "SUCCEEDED"
    wait_for(
        lambda: "(SUCCEEDED)" in approval_page.locator("#live-approval").inner_text(),
        timeout=60,
        interval=0.5,
        what="the approval page to show the execution's end",
    )
    # The selection still works: the bulk action runs on the kept row.
    kept_pk = Approval.objects.get(order_id=kept_id).pk
    watcher.select_option("select[name=action]", "approve_selected")
    with watcher.expect_request(lambda request: request.method == "POST") as posted:
        watcher.locator("#changelist-form button[name=index]").click()
    assert f"_selected_action={kept_pk}" in posted.value.post_data
    assert f"_selected_action={Approval.objects.get(pk=decided.pk).pk}" not in posted.value.post_data
    watcher.screenshot(path=str(artifacts_dir / "live-inbox.png"), full_page=True)
    for page in (watcher, deciding):
        page.context.close()
    assert Approval.objects.get(pk=decided.pk).status == Approval.Status.APPROVED


def test_a_hidden_tab_does_not_poll_and_refreshes_when_shown(live_server, operator, browser):
    page = log_in(browser, live_server, operator, next_path=INBOX)
    polls = live_polls(page)
    # Playwright delivers the page's events while it waits: wait in the page, not in time.sleep.
    wait_for(lambda: page.wait_for_timeout(100) or polls, timeout=5, interval=0, what="a first poll")

    page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
          Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    page.wait_for_timeout(500)  # a poll already in flight
    before = len(polls)
    page.wait_for_timeout(7_000)
    assert len(polls) == before, "a hidden tab polled"

    page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
          Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    wait_for(
        lambda: page.wait_for_timeout(50) or len(polls) > before, timeout=1, interval=0, what="a poll once it shows"
    )
    page.context.close()


def test_a_media_asset_turns_from_processing_to_ready_without_a_reload(
    live_server, admin_user, files_bucket, browser, artifacts_dir
):
    from console.aws import clients as aws

    key = "media/live-asset/shelf.png"
    body = png_bytes((300, 200))
    asset = MediaAsset.objects.create(
        file=key,
        original_name="shelf.png",
        content_type="image/png",
        declared_size=len(body),
        status=MediaAsset.Status.PROCESSING,
        uploaded_by=admin_user,
    )
    page = log_in(browser, live_server, admin_user, next_path=f"/media/mediaasset/{asset.pk}/change/")
    assert "Processing" in page.locator(".media-preview").inner_text()
    page.evaluate("window.liveMarker = 'not reloaded'")

    aws.client("s3").put_object(Bucket=files_bucket, Key=key, Body=body, ContentType="image/png")
    media_asset_process(bucket=files_bucket, key=key)  # what the S3 event does
    assert MediaAsset.objects.get(pk=asset.pk).status == MediaAsset.Status.READY

    page.locator(".media-preview img.media-thumbnail").wait_for(timeout=5_000)
    assert "Ready" in page.locator("#live-asset").inner_text()
    assert page.evaluate("window.liveMarker") == "not reloaded"
    page.screenshot(path=str(artifacts_dir / "live-media.png"), full_page=True)
    page.context.close()
