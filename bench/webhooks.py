"""Webhook delivery on the local stack: an order's status change to the receiver's 2xx.

    .venv/bin/python -m bench.webhooks [--changes 1000] [--kill-changes 300] [--database-url URL]

A real receiving HTTP server (tests/webhooks/receiver.py, verifying every request with the
Standard Webhooks library) is registered as an API client's endpoint. Then:

1. ``--changes`` orders of that client change status one after another (CREATED ->
   VALIDATED, through ``orders.services.order_transition``, published by the outbox after
   each commit); the delay is from each event's commit time to the receiver's 2xx.
2. A second endpoint fails three times before answering 204: the retry schedule observed
   (WEBHOOK_RETRY_BASE_SECONDS=1 here, 30 s as deployed).
3. ``--kill-changes`` more changes while the consumer (the worker function) is killed with
   SIGKILL halfway and started again: every event must reach the receiver (lost: 0);
   duplicates (an attempt whose 2xx came before the kill, not yet recorded) are counted.
"""

import argparse
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import ROOT, default_database_url, local_stack, start_consumer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--kill-changes", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL, else a temporary SQLite file")
    args = parser.parse_args()

    database_url = default_database_url(args.database_url)
    settings_env = {"WEBHOOK_RETRY_BASE_SECONDS": "1"}
    with local_stack(database_url, consumer=False, **settings_env):
        import os

        from console.platform import roles
        from orders.lifecycle import OrderStatus
        from orders.models import Order, OrderEvent
        from orders.services import order_transition
        from tests.conftest import make_user
        from tests.webhooks.receiver import Receiver
        from webhooks import services

        log = ROOT / ".local" / "bench" / "consumer.log"

        def consumer_started():
            polls = log.read_text().count("polling ops-console-dev-webhooks ")
            process = start_consumer(dict(os.environ), log)
            # start_consumer waits for the first queues' pollers; this one may come later.
            while log.read_text().count("polling ops-console-dev-webhooks ") <= polls:
                time.sleep(0.1)
            return process

        consumer = consumer_started()
        client = make_user("bench-webhooks-client", roles.API_CLIENT, staff=False)
        receiver = Receiver()
        endpoint = services.endpoint_create(
            owner=client, url=receiver.url, event_types=["OrderValidated"], actor=client
        )
        receiver.secrets.append(endpoint.secret)

        def change(count: int) -> list:
            orders = [Order(user_id=f"bench-{n}", total=1, created_by=client) for n in range(count)]
            Order.objects.bulk_create(orders)
            for order in orders:
                order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
            return [order.pk for order in orders]

        def webhook_ids(order_ids) -> dict:
            events = OrderEvent.objects.filter(order_id__in=order_ids, event_type="OrderValidated")
            return {f"msg_{event.pk.hex}": event.created_at.timestamp() for event in events}

        def wait_delivered(expected: set, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not expected <= {r.webhook_id for r in receiver.delivered()}:
                if time.monotonic() > deadline:
                    missing = expected - {r.webhook_id for r in receiver.delivered()}
                    raise RuntimeError(f"{len(missing)} events not delivered after {timeout} s")
                time.sleep(0.2)

        # A first delivery, so that the worker's execution environments are warm.
        warm = webhook_ids(change(1))
        wait_delivered(set(warm), timeout=60)

        # 1. Delay from a status change to the receiver's 2xx.
        started = time.monotonic()
        order_ids = change(args.changes)
        committed = webhook_ids(order_ids)
        wait_delivered(set(committed), timeout=600)
        elapsed = time.monotonic() - started
        first_2xx = {}
        for received in receiver.delivered():
            first_2xx.setdefault(received.webhook_id, received.at)
        delays = sorted(first_2xx[webhook_id] - at for webhook_id, at in committed.items())
        median = statistics.median(delays)
        p95 = delays[int(len(delays) * 0.95) - 1]
        print(f"{args.changes} changes in {elapsed:.1f} s: median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")

        # 2. The retry schedule against a receiver failing three times.
        failing = Receiver(fail_first=3)
        failing_endpoint = services.endpoint_create(
            owner=client, url=failing.url, event_types=["OrderValidated"], actor=client
        )
        failing.secrets.append(failing_endpoint.secret)
        [webhook_id] = webhook_ids(change(1))
        deadline = time.monotonic() + 120
        while not [r for r in failing.delivered() if r.webhook_id == webhook_id] and time.monotonic() < deadline:
            time.sleep(0.1)
        tries = [r for r in failing.received if r.webhook_id == webhook_id]
        gaps = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
        schedule = ", ".join(f"{r.answered}" for r in tries)
        print(f"retry schedule: answers {schedule}; gaps {[round(g, 2) for g in gaps]} s")
        services.endpoint_update(endpoint=failing_endpoint, actor=client, enabled=False)

        # 3. SIGKILL of the consumer halfway through a stream of changes.
        before = len(receiver.received)
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(ids=change(args.kill_changes)))
        thread.start()
        while len(receiver.delivered()) - before < args.kill_changes // 3:
            time.sleep(0.05)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        killed_at = time.monotonic()
        time.sleep(2)
        consumer = consumer_started()
        thread.join()
        expected = set(webhook_ids(result["ids"]))
        wait_delivered(expected, timeout=600)
        recovered = time.monotonic() - killed_at
        arrivals = [r.webhook_id for r in receiver.received[before:] if r.answered == 204]
        lost = len(expected - set(arrivals))
        duplicates = len(arrivals) - len(set(arrivals))
        print(f"SIGKILL: {len(expected)} events, lost {lost}, duplicates {duplicates}, all in {recovered:.1f} s")

        consumer.terminate()
        consumer.wait()
        receiver.close()
        failing.close()

    record(
        "webhooks",
        "Webhooks",
        [
            ["Figure", "Measured"],
            [f"Status changes delivered (one after another, {elapsed:.0f} s)", f"{args.changes:,}"],
            ["Median delay, status change committed -> receiver's 2xx", f"{median * 1000:.0f} ms"],
            ["95th percentile", f"{p95 * 1000:.0f} ms"],
            [
                "Retry schedule, receiver failing 3 times (base 1 s)",
                f"answers {schedule}; retried after {', '.join(f'{g:.1f} s' for g in gaps)}",
            ],
            [f"Consumer SIGKILLed during {args.kill_changes} changes: lost", f"{lost}"],
            ["Delivered twice (2xx before the kill, not yet recorded)", f"{duplicates}"],
            ["All delivered, after the kill", f"{recovered:.1f} s"],
        ],
    )


if __name__ == "__main__":
    main()
