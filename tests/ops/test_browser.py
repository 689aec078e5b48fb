"""Support staff's journey in a real browser (Debian's chromium driven by Playwright):
the home page's dead-letter panel, the failure inbox, a selected redrive with its dry
run, and the job page following the worker to the end.

Skipped with a reason where /usr/bin/chromium is missing; CI installs it (.ci/run)."""

import json
import re

import pytest
from django.core.cache import cache

from console.aws import clients as aws
from console.aws.resources import resource_name
from ops.models import DeadLetter
from tests.browser import JOURNEY_MARKS, log_in
from tests.ops.conftest import archived, drain, put_in_dlq

pytestmark = JOURNEY_MARKS


@pytest.fixture
def page(browser, live_server, support, artifacts_dir):
    page = log_in(browser, live_server, support, next_path="/", height=1000)
    yield page
    page.screenshot(path=str(artifacts_dir / "ops-redrive.png"), full_page=True)


def test_support_redrives_a_selected_message_from_the_home_page(stack, page, live_server, artifacts_dir):
    dlq = resource_name("steps-dlq")
    aws.client("sqs").create_queue(QueueName=resource_name("browser-target"))
    put_in_dlq(dlq, [json.dumps({"browser": n, "error": "boom"}) for n in range(2)])
    rows = [r for r in archived(dlq, 2) if "browser" in r.body]
    chosen = rows[0]

    cache.clear()  # the dashboard's panels are cached for a few seconds
    page.reload()
    panel = page.locator("#panel-dead-letters")
    assert dlq in panel.inner_text()
    panel.get_by_role("link", name=dlq).click()
    page.wait_for_url(re.compile(r".*/ops/deadletter/\?queue_name="))
    assert page.locator("#dead-letter-queues").get_by_text(dlq).count() >= 1
    page.screenshot(path=str(artifacts_dir / "ops-inbox.png"), full_page=True)

    page.check(f'input[name="_selected_action"][value="{chosen.pk}"]')
    page.select_option('select[name="action"]', "redrive_selected")
    page.click('button[name="index"]')
    page.wait_for_url(re.compile(r".*/ops/deadletter/redrive/.*"))
    assert page.locator(".plan-count").inner_text() == "1"
    page.screenshot(path=str(artifacts_dir / "ops-dry-run.png"), full_page=True)

    page.select_option('select[name="target"]', resource_name("browser-target"))
    page.click('button[name="start"]')
    page.wait_for_url(re.compile(r".*/ops/redrivejob/.*/change/"))
    # The page refreshes itself while the worker runs the job.
    # A function, not an expression string: Playwright evals those, which the console's CSP refuses.
    page.wait_for_function(
        "() => document.querySelector('.job-status') && document.querySelector('.job-status').innerText === 'Succeeded'"
    )
    assert "1 of 1 moved" in page.locator(".job-progress").inner_text()

    chosen.refresh_from_db()
    assert chosen.state == DeadLetter.State.REDRIVEN
    assert [json.loads(m["Body"])["browser"] for m in drain(resource_name("browser-target"))] == [
        0 if chosen is rows[0] else 1
    ]
