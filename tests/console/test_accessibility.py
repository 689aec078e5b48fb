"""axe-core (vendored from the npm registry into tests/vendor by scripts/vendor_npm.py) run
in Debian's Chromium over the console's main pages, filled with real data from the local
stack: no serious or critical violation on any of them.

Each page's counts by impact are written to ``axe-results.json`` in the artifacts
directory (the figures the docs quote). Skipped with a reason where /usr/bin/chromium is
missing; CI installs it (.ci/run)."""

import json
from pathlib import Path

import pytest

from console.aws.resources import resource_name
from console.platform import roles
from ops.models import Alarm, DeadLetter
from orders.imports.models import Import
from tests.browser import JOURNEY_MARKS
from tests.browser import log_in as browser_log_in
from tests.conftest import make_user
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval
from workflows.models import Approval, Execution

pytestmark = JOURNEY_MARKS

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_run(page) -> list[dict]:
    """axe's violations on the page as it stands. Evaluated through the DevTools protocol,
    so the page's Content-Security-Policy (nonced scripts only) does not apply to it."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async () => {
             const r = await axe.run(document, {resultTypes: ["violations"]});
             const node = (n) => n.target.join(" ") + ": " + (n.failureSummary || "").slice(0, 300);
             return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 5).map(node)}));
           }"""
    )
    return result


def main_pages(live_server_url: str, order_id: str) -> dict[str, str]:
    approval = Approval.objects.filter(order_id=order_id).first()
    execution = Execution.objects.filter(order_id=order_id).first()
    pages = {
        "home dashboard": "/",
        "approvals inbox": "/workflows/approval/",
        "approval page": f"/workflows/approval/{approval.pk}/change/",
        "orders": "/orders/order/",
        "order page": f"/orders/order/{order_id}/change/",
        "executions": "/workflows/execution/",
        "execution page": f"/workflows/execution/{execution.pk}/change/",
        "dead letters": "/ops/deadletter/",
        "queues": "/ops/queue/",
        "costs": "/ops/stagecost/",
        "failed jobs": "/ops/taskfailure/?status=all",
        "alarms": "/ops/alarm/",
        "imports": "/orders/import/",
        "media": "/media/mediaasset/",
        "audit log": "/console/auditentry/",
    }
    dead_letter = DeadLetter.objects.first()
    if dead_letter:
        pages["dead letter page"] = f"/ops/deadletter/{dead_letter.pk}/change/"
    alarm = Alarm.objects.first()
    if alarm:
        pages["alarm page"] = f"/ops/alarm/{alarm.pk}/change/"
    imported = Import.objects.first()
    if imported:
        pages["import page"] = f"/orders/import/{imported.pk}/change/"
    return {name: live_server_url + path for name, path in pages.items()}


@pytest.fixture
def filled_console(stack, live_server, api_token):
    """An order waiting for approval (with its execution), a dead letter and an alarm."""
    from django.utils import timezone

    order_id = create_order(live_server, api_token, WIDGETS, user_id="axe-amy")
    pending_approval(order_id)
    DeadLetter.objects.create(
        queue_name=resource_name("jobs-dlq"),
        message_id="m-axe-1",
        body=json.dumps({"orderId": order_id}),
        body_sha256="b",
        fingerprint="f",
        sent_at=timezone.now(),
    )
    Alarm.objects.create(
        name=resource_name("orders-failed"),
        state=Alarm.State.ALARM,
        state_changed_at=timezone.now(),
        metric_name="OrdersFailed",
        threshold=1,
    )
    return order_id


def test_the_main_pages_have_no_serious_or_critical_violations(filled_console, live_server, browser, artifacts_dir):
    admin = make_user("ada-admin", roles.ADMIN)
    page = browser_log_in(browser, live_server, admin, next_path="/")
    results: dict[str, dict] = {}
    blocking: list[str] = []
    for name, url in main_pages(live_server.url, filled_console).items():
        response = page.goto(url)
        assert response.status == 200, f"{name} answered {response.status}"
        violations = axe_run(page)
        counts = {
            impact: sum(1 for v in violations if v["impact"] == impact)
            for impact in ("critical", "serious", "moderate", "minor")
        }
        results[name] = {"url": url.removeprefix(live_server.url), "counts": counts, "violations": violations}
        blocking += [
            f"{name}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
            for v in violations
            if v["impact"] in BLOCKING
        ]
    (artifacts_dir / "axe-results.json").write_text(json.dumps(results, indent=2))
    assert len(results) >= 15
    assert not blocking, "axe-core found:\n" + "\n".join(blocking)


def test_axe_reports_what_it_is_there_to_find(stack, live_server, browser):
    """The check itself: an image without alternative text and an unlabelled field, put on
    a console page, are reported."""
    admin = make_user("ada-admin", roles.ADMIN)
    page = browser_log_in(browser, live_server, admin, next_path="/")
    page.evaluate(
        """() => { const f = document.createElement("input"); f.type = "text"; document.body.appendChild(f);
                   const i = document.createElement("img"); i.src = "data:,"; document.body.appendChild(i); }"""
    )
    found = {violation["id"] for violation in axe_run(page)}
    assert {"label", "image-alt"} <= found
