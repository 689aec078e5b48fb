"""Browser journeys: Playwright driving Debian's Chromium against the live console on the
local stack (moto's Step Functions and the consumer running the stage's Lambda functions).

Skipped with a reason where /usr/bin/chromium is missing; CI installs it (.ci/run)."""

from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.browser import JOURNEY_MARKS
from tests.browser import log_in as browser_log_in
from tests.conftest import make_user, wait_for
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval, wait_until_finished
from workflows.models import Approval, Execution

pytestmark = JOURNEY_MARKS


def log_in(browser, live_server, user):
    return browser_log_in(browser, live_server, user, next_path="/workflows/approval/")


def inbox_row(page, order_id: str):
    return page.locator("#result_list tbody tr", has=page.locator(f'a[title="{order_id}"]'))


def order_status_shown(page, live_server, order_id: str, status: str) -> bool:
    page.goto(f"{live_server.url}/orders/order/{order_id}/change/")
    return page.locator(".field-status .readonly").inner_text().strip().upper() == status


def test_an_operator_claims_approves_and_sees_the_order_complete(
    stack, live_server, api_token, operator, browser, artifacts_dir
):
    order_id = create_order(live_server, api_token, WIDGETS, user_id="browser-ana")
    pending_approval(order_id)
    page = log_in(browser, live_server, operator)

    row = inbox_row(page, order_id)
    assert "browser-ana" in row.inner_text() and "2 × Widget" in row.inner_text()
    page.screenshot(path=str(artifacts_dir / "inbox.png"), full_page=True)
    row.get_by_role("button", name="Claim").click()
    assert "You claimed order" in page.locator(".messagelist").inner_text()
    row = inbox_row(page, order_id)
    assert "olivia-operator" in row.inner_text()
    row.get_by_role("button", name="Approve").click()
    assert "approved; the workflow has resumed" in page.locator(".messagelist").inner_text()
    assert inbox_row(page, order_id).count() == 0  # gone from the pending inbox

    wait_for(
        lambda: order_status_shown(page, live_server, order_id, "COMPLETED"), timeout=45, interval=1, what="COMPLETED"
    )
    assert wait_until_finished(order_id) == "SUCCEEDED"
    execution = Execution.objects.get(order_id=order_id)
    page.goto(f"{live_server.url}/workflows/execution/{execution.pk}/change/")
    assert "SUCCEEDED" in page.locator(".execution-summary").inner_text()
    assert page.locator("tr.visit").filter(has_text="CompleteOrder").count() == 1
    page.screenshot(path=str(artifacts_dir / "execution.png"), full_page=True)
    page.context.close()


def test_another_operator_rejects_with_a_reason(stack, live_server, api_token, second_operator, browser):
    order_id = create_order(live_server, api_token, WIDGETS, user_id="browser-ben")
    pending_approval(order_id)
    page = log_in(browser, live_server, second_operator)
    inbox_row(page, order_id).get_by_role("link", name="Reject…").click()
    page.get_by_role("button", name="Reject order").click()  # the browser insists on a reason
    assert page.url.endswith("/reject/")
    page.fill("#id_reason", "Shipping address is a known fraud drop")
    page.get_by_role("button", name="Reject order").click()
    assert "rejected; the workflow has ended it" in page.locator(".messagelist").inner_text()
    wait_for(
        lambda: order_status_shown(page, live_server, order_id, "REJECTED"), timeout=45, interval=1, what="REJECTED"
    )
    assert Order.objects.get(pk=order_id).status_reason == "Shipping address is a known fraud drop"
    assert wait_until_finished(order_id) == "FAILED"
    page.context.close()


def test_a_four_eyes_order_needs_a_second_operator(
    stack, live_server, api_token, operator, second_operator, browser, artifacts_dir
):
    big = [{"productId": "p9", "name": "Server rack", "quantity": 1, "price": 8000}]
    order_id = create_order(live_server, api_token, big, user_id="browser-caro")
    approval = pending_approval(order_id)
    assert approval.required_approvals == 2

    first = log_in(browser, live_server, operator)
    inbox_row(first, order_id).get_by_role("button", name="Approve").click()
    assert "first approval recorded" in first.locator(".messagelist").inner_text()
    row = inbox_row(first, order_id)
    assert "1st: olivia-operator" in row.inner_text()
    # The same operator cannot give the second approval: the button says so instead of refusing later.
    assert row.get_by_role("button", name="Approve (2nd)").is_disabled()
    assert "You gave the first approval; a second approver must decide." in row.inner_text()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    first.context.close()

    second = log_in(browser, live_server, second_operator)
    second.goto(f"{live_server.url}/workflows/approval/?four_eyes=second")
    inbox_row(second, order_id).get_by_role("button", name="Approve (2nd)").click()
    assert "approved; the workflow has resumed" in second.locator(".messagelist").inner_text()
    wait_for(
        lambda: order_status_shown(second, live_server, order_id, "COMPLETED"), timeout=45, interval=1, what="COMPLETED"
    )
    approval.refresh_from_db()
    assert (approval.first_approved_by, approval.decided_by) == (operator, second_operator)
    assert wait_until_finished(order_id) == "SUCCEEDED"
    second.context.close()


def test_an_email_link_opened_by_a_scanner_decides_nothing(stack, live_server, api_token, browser):
    from workflows.approvals.notifications import approval_link_url

    order_id = create_order(live_server, api_token, WIDGETS, user_id="browser-dan")
    approval = pending_approval(order_id)
    url = approval_link_url(approval=approval, decision="approve").replace("http://127.0.0.1:8000", live_server.url)
    scanner = browser.new_context().new_page()
    scanner.goto(url)  # a link scanner follows the link, without a session
    assert "/login/" in scanner.url
    scanner.context.close()
    reviewer = make_user("rita-operator", "operator")
    page = log_in(browser, live_server, reviewer)
    page.goto(url)
    assert "Nothing has been decided yet" in page.content()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    page.get_by_role("button", name="Approve order").click()
    assert "approved; the workflow has resumed" in page.locator(".messagelist").inner_text()
    assert Approval.objects.get(pk=approval.pk).decided_by == reviewer
    page.context.close()
    assert wait_until_finished(order_id) == "SUCCEEDED"
    assert Order.objects.get(pk=order_id).status == OrderStatus.COMPLETED
