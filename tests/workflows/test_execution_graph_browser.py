"""Browser journey: the execution page's graph in Debian's Chromium, against the live console
on the local stack. A running order shows its current state highlighted and the path taken;
support stops it with a reason, its page then tells why at the top, and the order page
links to it."""

from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.browser import JOURNEY_MARKS, log_in
from tests.conftest import wait_for
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval
from workflows import sfn
from workflows.models import Execution

pytestmark = JOURNEY_MARKS


def test_the_graph_shows_the_current_state_and_the_path_and_a_stopped_one_says_why_at_the_top(
    stack, live_server, api_token, support_user, browser, artifacts_dir
):
    order_id = create_order(live_server, api_token, WIDGETS, user_id="browser-graph")
    pending_approval(order_id)
    execution = Execution.objects.get(order_id=order_id)
    page = log_in(browser, live_server, support_user, next_path=f"/orders/order/{order_id}/change/", height=1100)

    # The order page links to its execution.
    page.locator(".workflow-panel .execution-link a").click()
    page.wait_for_url(f"**/workflows/execution/{execution.pk}/change/")
    graph = page.locator("svg.execution-graph")
    assert graph.get_attribute("role") == "img"
    current = graph.locator("g.state.is-current")
    assert current.count() == 1 and current.get_attribute("data-state") == "RequestApproval"
    assert "running now" in current.locator("title").text_content()
    done = graph.locator("g.state.is-done")
    assert {done.nth(i).get_attribute("data-state") for i in range(done.count())} == {
        "ResumeOrStart",
        "ValidateOrder",
        "CheckInventory",
        "ProcessPaymentOrWait",
    }
    assert graph.locator("g.edge.is-taken").count() >= 3
    taken = graph.locator('g.edge.is-taken[data-source="ProcessPaymentOrWait"]')
    assert taken.get_attribute("data-target") == "RequestApproval"
    assert "now at RequestApproval" in page.locator(".graph-module h2").inner_text()
    box = current.bounding_box()
    assert box and box["width"] > 40 and box["height"] > 20  # drawn, not only present
    page.locator(".graph-text summary").click()
    assert "RequestApproval: running" in page.locator(".path-list").inner_text()
    page.screenshot(path=str(artifacts_dir / "execution-graph.png"), full_page=True)

    page.get_by_role("link", name="Stop execution…").click()
    page.get_by_role("button", name="Stop execution").click()  # the browser insists on a reason
    assert page.url.endswith("/stop/")
    page.fill("#id_reason", "Customer asked us to hold the order")
    page.get_by_role("button", name="Stop execution").click()
    assert "its order failed with your reason" in page.locator(".messagelist").inner_text()
    wait_for(
        lambda: sfn.describe_execution(execution_arn=execution.arn)["status"] != "RUNNING", timeout=20, what="the end"
    )
    page.reload()
    top = page.locator(".failure-top")
    assert "Stopped at RequestApproval: ExecutionStopped" in top.locator("h2").inner_text()
    assert "Customer asked us to hold the order" in top.inner_text()
    # The failure is the first thing on the page, above the summary and the graph.
    assert top.bounding_box()["y"] < page.locator(".execution-summary").bounding_box()["y"]
    failed = page.locator("svg.execution-graph g.state.is-failed")
    assert failed.first.get_attribute("data-state") == "RequestApproval"
    assert page.get_by_role("button", name="Restart from RequestApproval").is_visible()
    page.screenshot(path=str(artifacts_dir / "execution-graph-stopped.png"), full_page=True)
    assert Order.objects.get(pk=order_id).status == OrderStatus.FAILED
    page.context.close()
