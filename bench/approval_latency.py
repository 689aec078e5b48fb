"""Decision latency: from an operator's POST (Approve in the console) to the workflow
entering its next state (ProcessPayment's TaskStateEntered in the execution history).

    .venv/bin/python bench/approval_latency.py [--approvals 200] [--database-url URL]

Runs its own local stack (moto server, the queue consumer process) on a scratch database
(SQLite under .local/bench by default; a PostgreSQL URL works too, its tables are flushed).
Each POST goes through the console's full request cycle (session, CSRF-exempt test client,
admin view, service, SendTaskSuccess); the next state's time is the engine's own event
timestamp, so polling does not add to the figure. Prints median, p95, min and max."""

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import ROOT, local_stack, percentile, start_orders_to_approval  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / '.local' / 'bench' / 'latency.sqlite3'}")
    args = parser.parse_args()

    with local_stack(args.database_url, WORKFLOW_INVENTORY_RECHECK_SECONDS="1"):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.test import Client
        from django.urls import reverse

        from workflows import sfn

        print(f"starting {args.approvals} executions and waiting for their approvals...", flush=True)
        approvals = start_orders_to_approval(args.approvals)
        operator = get_user_model().objects.create_user("bench-operator", password="x", is_staff=True)
        operator.groups.add(Group.objects.get(name="operator"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(operator)

        posted: dict[int, float] = {}
        for approval in approvals:
            url = reverse("admin:workflows_approval_approve", args=[approval.pk])
            posted[approval.pk] = time.time()
            response = client.post(url, {"next": "/"})
            assert response.status_code == 302, response.status_code

        latencies = []
        for approval in approvals:
            entered = None
            deadline = time.monotonic() + 60
            while entered is None:
                for event in sfn.execution_history_all(execution_arn=approval.execution.arn):
                    details = event.get("stateEnteredEventDetails") or {}
                    if details.get("name") == "ProcessPayment":
                        entered = event["timestamp"]
                        break
                if entered is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{approval.execution.name} never entered ProcessPayment")
                    time.sleep(0.2)
            stamp = entered.timestamp() if isinstance(entered, datetime) else float(entered)
            latencies.append((stamp - posted[approval.pk]) * 1000)

    print(f"decision latency, POST -> next state entered, {len(latencies)} approvals (ms):")
    print(
        f"  median {statistics.median(latencies):.1f}  p95 {percentile(latencies, 0.95):.1f}  "
        f"min {min(latencies):.1f}  max {max(latencies):.1f}"
    )
    record(
        "approval_latency",
        "Decision latency",
        [
            ["Figure", "Measured"],
            [
                f"POST Approve → next state entered, {len(latencies)} approvals, {args.database_url.split(':', 1)[0]}",
                f"median {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms "
                f"(min {min(latencies):.1f}, max {max(latencies):.1f})",
            ],
        ],
    )


if __name__ == "__main__":
    main()
