"""Seconds until a decision made in one tab shows in another: two operators' inboxes open in
Debian's Chromium, one approves (its approval page, the Approve button), the other's inbox
loses the row without a reload (console.pages.live polling). Also an approval arriving: from
the workflow's approval row being written to the row showing in an open inbox.

    .venv/bin/python bench/live_decision.py [--decisions 10] [--database-url URL]

Runs the local stack (moto server, the consumer) and the console (``manage.py runserver``,
as ``make run`` does) on a scratch database. Prints median, p95, min and max of each, with
the poll interval they follow from (``LIVE_POLL_SECONDS``)."""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import ROOT, local_stack, percentile, start_orders_to_approval  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def wait(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)
    return found


def log_in(browser, base: str, username: str):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{base}/login/?next=/workflows/approval/")
    page.fill("#id_username", username)
    page.fill("#id_password", "x-" + username)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/workflows/approval/.*"))
    return page


# In the watching inbox: when each order's row first showed and when it left (the page's
# own clock, Date.now(), as each live swap lands), so the figure does not depend on how
# often this script looks.
WATCH = """() => {
  window.__seen = {}; window.__gone = {};
  const scan = () => {
    const now = Date.now();
    const present = new Set([...document.querySelectorAll("#result_list a[title]")].map(a => a.title));
    for (const id of present) if (!(id in window.__seen)) window.__seen[id] = now;
    for (const id of Object.keys(window.__seen)) {
      if (!present.has(id) && !(id in window.__gone)) window.__gone[id] = now;
    }
  };
  scan();
  new MutationObserver(scan).observe(document.body, {childList: true, subtree: true});
}"""


def seen(page, order_id: str, which: str) -> float | None:
    stamp = page.evaluate(f"(id) => window.{which}[id]", order_id)
    return stamp / 1000 if stamp else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / '.local' / 'bench' / 'live.sqlite3'}")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

    with local_stack(args.database_url, WORKFLOW_INVENTORY_RECHECK_SECONDS="1"):
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from playwright.sync_api import sync_playwright

        from console.devtools.devstack import free_port, wait_for_port
        from workflows.models import Approval

        users = get_user_model().objects
        for name in ("bench-ana", "bench-ben"):
            user = users.create_user(name, password="x-" + name, is_staff=True)
            user.groups.add(Group.objects.get(name="operator"))
        port = free_port()
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_ALLOW_ASYNC_UNSAFE": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in this thread
        decided, arrived = [], []
        try:
            wait_for_port(port, process=web)
            base = f"http://127.0.0.1:{port}"
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            watcher = log_in(browser, base, "bench-ben")
            watcher.evaluate(WATCH)
            decider = log_in(browser, base, "bench-ana")
            for _ in range(args.decisions):
                # Arrival: from the approval row the workflow writes (requested_at) to the
                # row showing in the open inbox.
                # A random moment of the poll cycle: this loop would otherwise act just after
                # the watcher's last poll every time (its worst case).
                time.sleep(random.uniform(0, settings.LIVE_POLL_SECONDS))
                started = time.monotonic()
                before = set(Approval.objects.values_list("pk", flat=True))
                start_orders_to_approval(1)
                written = Approval.objects.exclude(pk__in=before).get(status="PENDING")
                order_id = str(written.order_id)
                shown = wait(lambda o=order_id: seen(watcher, o, "__seen"), 30, "the new row in the inbox")
                arrived.append(shown - written.requested_at.timestamp())
                # A decision in the other tab: Approve on its page, until the watcher's row is gone.
                decider.goto(f"{base}/workflows/approval/{written.pk}/change/")
                button = decider.get_by_role("button", name=re.compile(r"^Approve$"))
                time.sleep(random.uniform(0, settings.LIVE_POLL_SECONDS))
                clicked = time.time()
                button.click()
                gone = wait(lambda o=order_id: seen(watcher, o, "__gone"), 30, "the row to leave the inbox")
                decided.append(gone - clicked)
                print(
                    f"  order {order_id}: arrived after {arrived[-1]:.2f} s, decision shown after {decided[-1]:.2f} s"
                    f" ({time.monotonic() - started:.1f} s)",
                    flush=True,
                )
            browser.close()
            playwright.stop()
        finally:
            web.terminate()
            web.wait(10)
        interval = settings.LIVE_POLL_SECONDS

    def line(name: str, values: list[float]) -> list[str]:
        return [
            name,
            f"median {statistics.median(values):.2f} s, p95 {percentile(values, 0.95):.2f} s, "
            f"min {min(values):.2f} s, max {max(values):.2f} s",
        ]

    rows = [
        line(f"a decision in one tab, shown in another ({len(decided)} decisions)", decided),
        line(f"an approval arriving, shown in an open inbox ({len(arrived)} approvals)", arrived),
    ]
    print(f"live pages, poll every {interval} s:")
    for name, figures in rows:
        print(f"  {name}: {figures}")
    record(
        "live_decision",
        "Live pages: a decision in another tab",
        [["Figure", f"Measured (Chromium, poll every {interval} s)"], *rows],
    )


if __name__ == "__main__":
    main()
