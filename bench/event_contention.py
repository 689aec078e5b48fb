"""Event append under contention: concurrent writers (default 20) appending events to one
order at once, through the service that retries on optimistic-lock conflicts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.event_contention [--writers 20]

Prints the appends per second, the conflicts (each followed by a retry), writers that gave
up, and checks the order's versions run 1..N with no gap and no duplicate.
"""

import argparse
import statistics
import threading
import time

from bench.common import machine_note, record, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--events", type=int, default=25, help="events each writer appends")
    parser.add_argument("--max-attempts", type=int, default=50)
    args = parser.parse_args()
    setup()

    from django.db import connection

    from orders import services
    from orders.models import Order, OrderEvent
    from orders.selectors import order_events_check

    order = services.order_create(
        user_id="bench-contention",
        items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}],
        start_workflow=False,
    )
    services.append_stats.reset()
    barrier = threading.Barrier(args.writers)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        barrier.wait()
        try:
            for n in range(args.events):
                started = time.perf_counter()
                try:
                    services.order_note_add(
                        order_id=order.pk, note=f"writer {index} event {n}", max_attempts=args.max_attempts
                    )
                except services.ConcurrentUpdate as exc:
                    with lock:
                        failures.append(str(exc))
                    continue
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    versions = list(OrderEvent.objects.filter(order=order).order_by("version").values_list("version", flat=True))
    expected = list(range(1, 1 + 1 + args.writers * args.events - len(failures)))
    gaps = sorted(set(range(1, max(versions) + 1)) - set(versions))
    duplicates = len(versions) - len(set(versions))
    row_version = Order.objects.get(pk=order.pk).version
    consistent = not list(order_events_check(order_ids=[order.pk]))
    appended = len(latencies)
    stats = services.append_stats

    print(
        f"Event append under contention: {args.writers} writers x {args.events} events on one order ({machine_note()})"
    )
    print(f"  appended {appended} events in {elapsed:.2f} s: {appended / elapsed:.0f} appends/s")
    print(
        f"  per append (with its retries): median {statistics.median(latencies):.1f} ms, "
        f"p95 {sorted(latencies)[int(len(latencies) * 0.95) - 1]:.1f} ms, max {max(latencies):.1f} ms"
    )
    print(
        f"  optimistic-lock conflicts: {stats.conflicts} (each retried: {stats.conflicts / max(appended, 1):.2f} "
        f"per append); writers that gave up: {stats.gave_up}"
    )
    print(
        f"  versions 1..{max(versions)}: gaps {len(gaps)}, duplicates {duplicates}; row version {row_version}; "
        f"replay agrees with the row: {'yes' if consistent else 'NO'}"
    )
    ok = not gaps and not duplicates and versions == expected and row_version == versions[-1] and consistent
    print(f"  result: {'OK' if ok and not failures else 'PROBLEM'}")
    record(
        "event_contention",
        "Event append under contention",
        [
            ["Figure", "Measured"],
            [
                f"{args.writers} writers × {args.events} events on one order",
                f"{appended / elapsed:.0f} appends/s ({appended} in {elapsed:.2f} s)",
            ],
            [
                "Per append, with its retries",
                f"median {statistics.median(latencies):.1f} ms, p95 "
                f"{sorted(latencies)[int(len(latencies) * 0.95) - 1]:.1f} ms, max {max(latencies):.1f} ms",
            ],
            [
                "Optimistic-lock conflicts",
                f"{stats.conflicts} ({stats.conflicts / max(appended, 1):.2f} retries per append), "
                f"{stats.gave_up} gave up",
            ],
            [
                "Versions",
                f"{len(gaps)} gaps, {duplicates} duplicates; the replay agrees: {'yes' if consistent else 'NO'}",
            ],
            ["Result", "OK" if ok and not failures else "PROBLEM"],
        ],
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
