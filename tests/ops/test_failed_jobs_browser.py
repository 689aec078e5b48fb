"""Support staff's journey through failed jobs in a real browser (Debian's chromium driven
by Playwright): a job that failed for good on the worker function is found by its order's
id, retried from its page, runs again on the worker function and shows retried and resolved.

Skipped with a reason where /usr/bin/chromium is missing; CI installs it (.ci/run)."""

import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from console.platform import roles
from console.runtime import jobs
from ops.models import TaskFailure
from orders.services import order_create
from tests.browser import JOURNEY_MARKS, log_in
from tests.conftest import make_user, wait_for

pytestmark = JOURNEY_MARKS


@pytest.fixture
def page(browser, live_server, support, artifacts_dir):
    page = log_in(browser, live_server, support, next_path="/ops/taskfailure/", height=1000)
    yield page
    page.screenshot(path=str(artifacts_dir / "failed-jobs.png"), full_page=True)


def test_support_finds_a_failed_job_by_order_id_and_retries_it(stack, page, support):
    order = order_create(
        user_id="browser-failed-jobs",
        items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}],
        start_workflow=False,
    )
    # An export of that order's list queued for someone who may not export: it fails for good
    # on the worker function, which records it.
    exporter = make_user("browser-exporter", None)
    task_id = jobs.enqueue("orders.export_to_file", exporter.pk, f"q={order.pk}", f"exports/orders/{uuid.uuid4()}.csv")
    failure = wait_for(
        lambda: TaskFailure.objects.filter(task_id=task_id, status=TaskFailure.Status.FAILED).first(),
        timeout=60,
        what="the job to fail on the worker function",
    )

    page.fill("#searchbar", str(order.pk))
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r".*/ops/taskfailure/\?.*q="))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "orders.export_to_file" in rows.first.inner_text() and "ExportRefused" in rows.first.inner_text()
    assert rows.first.locator(".job-status").inner_text() == "Failed for good"

    rows.first.locator("th a").click()
    page.wait_for_url(re.compile(rf".*/ops/taskfailure/{failure.pk}/change/"))
    assert "may no longer export orders" in page.locator(".failed-job").inner_text()
    assert f"q={order.pk}" in page.locator(".job-args").inner_text()

    # The cause is put right, then the job is retried from its page.
    exporter.groups.add(Group.objects.get(name=roles.OPERATOR))
    page.fill("#retry-reason", "export permission given back")
    page.click("button[name=retry]")
    page.wait_for_url(re.compile(rf".*/ops/taskfailure/{failure.pk}/change/"))
    failure.refresh_from_db()
    assert (
        f"Sent orders.export_to_file again, as task {failure.retry_task_id}"
        in page.locator(".messagelist").inner_text()
    )
    assert support.username in page.locator(".job-retried").inner_text()

    wait_for(
        lambda: TaskFailure.objects.filter(pk=failure.pk, status=TaskFailure.Status.RESOLVED).exists(),
        timeout=60,
        what="the retried job to succeed on the worker function",
    )
    # Its row, in the list of every status searched by the order: retried, by whom, and resolved.
    page.goto(page.url.split("/ops/")[0] + f"/ops/taskfailure/?status=all&q={order.pk}")
    row = page.locator("#result_list tbody tr").first
    assert row.locator(".job-status").inner_text() == "Resolved"
    assert f"retried by {support.username}" in row.locator(".job-retried").inner_text()
