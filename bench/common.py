"""Shared by the benchmarks: setup, timing and printing."""

import os
import statistics
import time
from dataclasses import dataclass

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


def setup() -> None:
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://.../ops_bench_orders")
    from orders.models import Order

    if not Order.objects.exists():
        raise SystemExit("No orders: load them first with python -m bench.load_orders")


@dataclass
class Measure:
    median_ms: float
    p95_ms: float
    queries: int
    status: int
    #: This process's CPU time per request (median): the Python side, which other load on
    #: the machine does not inflate the way it inflates wall time.
    cpu_ms: float = 0.0


def measure(client, url: str, *, runs: int, warmup: int = 3, **extra) -> Measure:
    """Median and 95th percentile of ``runs`` requests (after ``warmup``), served in this
    process (server time: middleware, view, database; no network), and the number of
    queries one request makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(url, **extra)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    # Read now: the next request's request_started signal clears the query log.
    query_count = len(queries.captured_queries)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url, **extra)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return Measure(
        statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], query_count, 200, statistics.median(cpu)
    )


def machine_note() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.2f} on {os.cpu_count()} cores"
