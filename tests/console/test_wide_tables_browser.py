"""The console's wide lists at 1440 × 900 in a real browser (Debian's chromium): the dead
letters, the audit log and the imports, with long unbroken values in their cells, fit the
window or scroll inside their own box: never cut off at the window's edge. No page asks for
something that is not there (the favicon was a 404 on every page).

Screenshots: dead-letters-1440.png, audit-log-1440.png, imports-1440.png in the artifacts."""

import re

import pytest

from console.aws.resources import resource_name
from console.models import AuditEntry
from console.platform import roles
from console.platform.audit import audit_record
from ops.models import DeadLetter
from orders.imports.models import Import
from tests.browser import JOURNEY_MARKS
from tests.conftest import make_user

pytestmark = JOURNEY_MARKS

# Every table of the page: its right edge inside the window, or inside a box that scrolls
# sideways and itself ends inside the window. Returns the tables that are cut off.
CLIPPED_TABLES = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = [];
  for (const table of document.querySelectorAll("#content table")) {
    const right = table.getBoundingClientRect().right;
    if (right <= width + 1) continue;
    let box = table.parentElement, scrolls = false;
    while (box && box !== document.body) {
      const overflow = getComputedStyle(box).overflowX;
      if ((overflow === "auto" || overflow === "scroll") && box.getBoundingClientRect().right <= width + 1) {
        scrolls = box.scrollWidth > box.clientWidth; break;
      }
      box = box.parentElement;
    }
    if (!scrolls) clipped.push(`${table.id || table.className || "table"} ends at ${Math.round(right)} px`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > width + 1) clipped.push(`the page is ${page} px wide`);
  return clipped;
}"""

LONG = "x" * 30 + "-" + "unbroken" * 20


@pytest.fixture
def wide_data(local_aws):
    dlq = resource_name("jobs-dlq")
    for n in range(3):
        DeadLetter.objects.create(
            queue_name=dlq,
            message_id=f"wide-{n}",
            body='{"payload": "' + LONG + '"}',
            body_sha256=f"wide-{n}",
            fingerprint=f"wide-{n}",
            task="console.tasks." + "very_long_task_name_" * 6,
            error_type="botocore.exceptions.ClientError",
            error="An error occurred (AccessDenied) calling " + LONG,
        )
    actor = make_user("ivy-importer", None)
    for n in range(3):
        audit_record(
            action="dlq.redrive",
            object_type="ops.redrivejob",
            object_id=("f" * 36)[: 36 - n],
            actor=actor,
            source=AuditEntry.Source.CONSOLE,
            reason="Redriven after the fix " + LONG,
        )
    for n in range(3):
        Import.objects.create(
            bucket="files",
            key=f"incoming/orders/{n}-{LONG}.csv",
            version=f"v{n}",
            original_name=f"{n}-orders-of-the-week-{LONG}.csv",
            chunk_bytes=1024,
            created_by=actor,
        )


def test_wide_lists_fit_or_scroll_in_their_box_at_1440_and_nothing_is_missing(
    browser, live_server, wide_data, artifacts_dir
):
    admin = make_user("wendy-wide", roles.ADMIN)
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status >= 400 else None)
    page.goto(f"{live_server.url}/login/?next=/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "x-" + admin.username)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))

    for path, screenshot in [
        ("/ops/deadletter/", "dead-letters-1440.png"),
        ("/console/auditentry/", "audit-log-1440.png"),
        ("/orders/import/", "imports-1440.png"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#result_list").count() == 1, path
        assert page.locator("#result_list tbody tr").count() >= 3, path
        page.screenshot(path=str(artifacts_dir / screenshot), full_page=True)
        assert page.evaluate(CLIPPED_TABLES) == [], path
        # The list itself wraps or cuts its long cells: every column in sight, no sideways scroll.
        overflow = page.evaluate(
            "() => { const box = document.querySelector('#changelist-form .results');"
            " return box.scrollWidth - box.clientWidth; }"
        )
        assert overflow <= 1, f"{path}: the list is {overflow} px wider than its box"
        # The icon the page names is there.
        icon = page.locator('link[rel="icon"]').get_attribute("href")
        assert page.request.get(f"{live_server.url}{icon}").status == 200

    assert page.goto(f"{live_server.url}/favicon.ico").status == 200
    assert missing == []
