"""Browser journeys of approval triage: the inbox on a 390 px phone (cards, no sideways
scroll, 44 px targets), and the keyboard through pending approvals to a decision.

Playwright driving Debian's Chromium against the live console; skipped with a reason where
/usr/bin/chromium is missing (CI installs it)."""

import re
from decimal import Decimal

from tests.browser import JOURNEY_MARKS
from tests.conftest import wait_for
from tests.workflows.conftest import make_pending_approval
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval
from workflows.approvals import approval_claim
from workflows.models import Approval

pytestmark = JOURNEY_MARKS

PHONE = {"width": 390, "height": 844}

# Every visible link and button of a region, with its height: the targets a thumb must hit.
TARGETS_JS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.offsetParent !== null)
  .map((el) => ({text: (el.innerText || el.value || el.name || "").trim().slice(0, 40),
                 height: el.getBoundingClientRect().height}))"""


def logged_in(browser, live_server, user, path: str, viewport: dict):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/?next={path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "x-" + user.username)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf".*{re.escape(path)}$"))
    return page


def too_small(page, selector: str) -> list[dict]:
    return [target for target in page.evaluate(TARGETS_JS, selector) if target["height"] < 44]


def test_the_inbox_and_an_approval_at_390_px_fit_the_phone_with_44_px_targets(
    live_server, operator, second_operator, browser, artifacts_dir
):
    plain = make_pending_approval("phone-1")
    make_pending_approval("phone-2", total=Decimal("9000"))  # four-eyes: the widest card
    claimed = make_pending_approval("phone-3")
    approval_claim(approval_id=claimed.pk, actor=second_operator)

    page = logged_in(browser, live_server, operator, "/workflows/approval/", PHONE)
    assert page.locator("#result_list tbody tr").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first_row = page.locator("#result_list tbody tr").first.bounding_box()
    assert first_row["width"] <= 390 and first_row["height"] > 100  # a card, not a 748 px table row
    assert too_small(page, "#result_list a, #result_list button") == []
    assert "it is theirs to decide" in page.locator("#result_list").inner_text()
    page.screenshot(path=str(artifacts_dir / "inbox-mobile.png"), full_page=True)

    page.goto(f"{live_server.url}/workflows/approval/{plain.pk}/change/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    targets = ".approval-decision a, .approval-decision button, .approval-triage .button, .object-tools a"
    assert too_small(page, targets) == []
    page.screenshot(path=str(artifacts_dir / "approval-page-mobile.png"), full_page=True)
    page.context.close()

    desktop = logged_in(
        browser, live_server, operator, f"/workflows/approval/{plain.pk}/change/", {"width": 1440, "height": 900}
    )
    assert desktop.get_by_role("link", name="Next pending →").count() == 1
    desktop.screenshot(path=str(artifacts_dir / "approval-page.png"), full_page=True)
    desktop.context.close()


def test_the_keyboard_goes_to_the_next_pending_approval_and_approves_through_the_form(
    stack, live_server, api_token, operator, browser, artifacts_dir
):
    first_order = create_order(live_server, api_token, WIDGETS, user_id="keys-1")
    first = pending_approval(first_order)
    second_order = create_order(live_server, api_token, WIDGETS, user_id="keys-2")
    second = pending_approval(second_order)
    first_url = f"/workflows/approval/{first.pk}/change/"
    second_url = f"/workflows/approval/{second.pk}/change/"

    page = logged_in(browser, live_server, operator, first_url, {"width": 1440, "height": 900})
    help_list = page.locator("#approval-shortcuts")
    assert not help_list.evaluate("el => el.open")
    page.keyboard.press("?")  # the shortcuts are discoverable
    assert help_list.evaluate("el => el.open") and "next pending approval" in help_list.inner_text()

    page.keyboard.press("j")
    page.wait_for_url(re.compile(rf".*{re.escape(second_url)}$"))
    page.keyboard.press("k")
    page.wait_for_url(re.compile(rf".*{re.escape(first_url)}$"))

    note = page.locator(".approval-decision input.approve-note")
    note.click()
    page.keyboard.type("jak")  # letters typed in a field stay letters: no navigation, no decision
    assert page.url.endswith(first_url) and note.input_value() == "jak"
    note.fill("")
    note.blur()

    page.keyboard.press("a")  # approve: into the form's note field, nothing sent yet
    assert page.evaluate("document.activeElement.classList.contains('approve-note')")
    assert Approval.objects.get(pk=first.pk).status == Approval.Status.PENDING
    page.keyboard.type("checked by keyboard")
    page.keyboard.press("Enter")  # the form's POST, with its CSRF token
    page.wait_for_url(re.compile(rf".*{re.escape(second_url)}$"))  # the landing: the next one waiting
    assert "approved; the workflow has resumed" in page.locator(".messagelist").inner_text()
    decided = wait_for(
        lambda: Approval.objects.filter(pk=first.pk, status=Approval.Status.APPROVED).first(), what="the approval"
    )
    assert decided.decided_by == operator and decided.reason == "checked by keyboard"
    page.context.close()


def test_the_inbox_rows_are_chosen_with_j_and_opened_with_o(live_server, operator, browser):
    older = make_pending_approval("rows-1")
    make_pending_approval("rows-2")
    page = logged_in(browser, live_server, operator, "/workflows/approval/", {"width": 1440, "height": 900})
    page.keyboard.press("j")
    assert page.locator("#result_list tbody tr.shortcut-current").count() == 1
    page.keyboard.press("o")
    page.wait_for_url(re.compile(rf".*/workflows/approval/{older.pk}/change/$"))
    page.context.close()
