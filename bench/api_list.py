"""GET /api/orders on the loaded orders: the first page, the page at row 500,000, a status
filter, and a page inside a run of orders with one created_at, against DRF's own
CursorPagination and PageNumberPagination in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.api_list [--runs 50]

The three lists take turns request by request, so load from elsewhere on the machine falls
on all three alike. Each case first checks that the three answer the same first order.

The tie: an order CSV import on PostgreSQL writes a chunk's orders with one created_at.
The benchmark gives TIE orders from row 500,000 on one created_at, in a transaction it rolls
back, and reads the page 1,000 rows into them: DRF's cursor reaches it with OFFSET 1,000
(its cutoff; a page further in, its next link repeats this one for ever).

Target: median <= 25 ms in every case, the same number of queries at every depth.
"""

import argparse
import statistics
import time
from base64 import b64encode
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from bench.common import Measure, machine_note, record, setup

PAGE_SIZE = 50
DEEP_ROW = 500_000
TIE = 10_000
INTO_TIE = 1_000
TARGET_MS = 25.0
LISTS = ("ours", "drf cursor", "drf pages")


def alternating(client, urls: dict[str, str], *, runs: int, warmup: int = 3) -> dict[str, Measure]:
    """Median and 95th percentile of ``runs`` requests to each URL, the URLs taking turns,
    and the queries one request makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = {}
    for name, url in urls.items():
        for _ in range(warmup):
            client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        queries[name] = len(captured.captured_queries)
    times: dict[str, list[float]] = {name: [] for name in urls}
    cpu: dict[str, list[float]] = {name: [] for name in urls}
    turns = list(urls.items())
    for run in range(runs):
        # Each run starts with the next list, so none always follows the same one.
        for name, url in turns[run % len(turns) :] + turns[: run % len(turns)]:
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    measured = {}
    for name, taken in times.items():
        taken.sort()
        p95 = taken[max(0, int(len(taken) * 0.95) - 1)]
        measured[name] = Measure(statistics.median(taken), p95, queries[name], 200, statistics.median(cpu[name]))
    return measured


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def our_cursor(anchor) -> str:
    """The cursor of our next link after ``anchor`` (as a client holds it, following them)."""
    from rest_framework.pagination import Cursor

    from console.api.pagination import KeysetPagination

    paginator = KeysetPagination()
    paginator.base_url, paginator.ordering = "/", ("-created_at", "-pk")
    return cursor_of(paginator.encode_cursor(Cursor(0, False, (anchor.created_at, anchor.pk))))


def drf_cursor(position, offset: int = 0) -> str:
    """DRF's CursorPagination cursor, quoted for a URL: the created_at its rows come after,
    then an offset."""
    tokens = {"p": str(position)} | ({"o": str(offset)} if offset else {})
    return quote(b64encode(urlencode(tokens).encode()).decode())


def cases(orders) -> dict[str, dict[str, str]]:
    """Each case's URL for the three lists, the tie's given in ``orders`` as it is now."""
    newest = orders.order_by("-created_at", "-pk")
    # Found once with an OFFSET: the cursors a client holds after following next links.
    anchor = newest[DEEP_ROW - 1 : DEEP_ROW].get()
    return {
        "first page": {
            "ours": f"/api/orders?limit={PAGE_SIZE}",
            "drf cursor": "/bench-api/orders-cursor",
            "drf pages": "/bench-api/orders?page=1",
        },
        f"row {DEEP_ROW:,}": {
            "ours": f"/api/orders?limit={PAGE_SIZE}&cursor={our_cursor(anchor)}",
            "drf cursor": f"/bench-api/orders-cursor?cursor={drf_cursor(anchor.created_at)}",
            "drf pages": f"/bench-api/orders?page={DEEP_ROW // PAGE_SIZE + 1}",
        },
        "first page, status filter": {
            "ours": f"/api/orders?limit={PAGE_SIZE}&status=AWAITING_APPROVAL",
            "drf cursor": "/bench-api/orders-cursor?status=AWAITING_APPROVAL",
            "drf pages": "/bench-api/orders?page=1&status=AWAITING_APPROVAL",
        },
    }


def tie_case(orders) -> dict[str, str]:
    """The TIE orders from row DEEP_ROW given one created_at (the caller rolls it back), and
    the URLs of the page INTO_TIE rows into them."""
    newest = orders.order_by("-created_at", "-pk")
    before, first = newest[DEEP_ROW - 1 : DEEP_ROW + 1]
    tied = newest[DEEP_ROW : DEEP_ROW + TIE].values("pk")
    orders.filter(pk__in=tied).update(created_at=first.created_at)
    anchor = newest[DEEP_ROW + INTO_TIE - 1 : DEEP_ROW + INTO_TIE].get()
    return {
        "ours": f"/api/orders?limit={PAGE_SIZE}&cursor={our_cursor(anchor)}",
        "drf cursor": f"/bench-api/orders-cursor?cursor={drf_cursor(before.created_at, INTO_TIE)}",
        "drf pages": f"/bench-api/orders?page={(DEEP_ROW + INTO_TIE) // PAGE_SIZE + 1}",
    }


def same_first_order(client, urls: dict[str, str]) -> None:
    firsts = {name: client.get(url).json()["results"][0]["orderId"] for name, url in urls.items()}
    assert len(set(firsts.values())) == 1, firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from console.platform import roles
    from orders.models import Order

    user, _ = get_user_model().objects.get_or_create(username="bench-api-client")
    user.groups.add(Group.objects.get(name=roles.API_CLIENT))
    # A reporting client: it lists every order (an ordinary client sees only its own).
    user.user_permissions.add(Permission.objects.get(codename="view_all_orders", content_type__app_label="orders"))
    AuthToken.objects.filter(user=user).delete()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")

    total = Order.objects.count()
    results = {}
    for name, urls in cases(Order.objects.all()).items():
        same_first_order(client, urls)
        results[name] = alternating(client, urls, runs=args.runs)
    tie_name = f"{INTO_TIE:,} rows into {TIE:,} tied"
    # The test client keeps one connection through its requests: they see the tie, and the
    # rollback leaves the loaded orders as they were.
    with transaction.atomic():
        urls = tie_case(Order.objects.all())
        same_first_order(client, urls)
        results[tie_name] = alternating(client, urls, runs=args.runs)
        transaction.set_rollback(True)

    print(f"GET /api/orders: {total:,} orders, {PAGE_SIZE} per page, server time in process ({machine_note()})")
    print(f"  median of {args.runs} each, the three lists taking turns; ratios are theirs / ours")
    print(
        f"  {'':<28}{'ours':>9} {'p95':>7} {'cpu':>6} {'q':>3}   {'DRF cursor':>10} {'cpu':>6} {'q':>3}   "
        f"{'DRF pages':>10} {'q':>3}"
    )
    for name, measured in results.items():
        mine, cursor, pages = (measured[key] for key in LISTS)
        print(
            f"  {name:<28}{mine.median_ms:>7.1f}ms {mine.p95_ms:>5.1f}ms {mine.cpu_ms:>4.1f}ms {mine.queries:>3}   "
            f"{cursor.median_ms:>8.1f}ms {cursor.cpu_ms:>4.1f}ms {cursor.queries:>3}   "
            f"{pages.median_ms:>8.1f}ms {pages.queries:>3}"
            f"   ({cursor.median_ms / mine.median_ms:.2f}x, {pages.median_ms / mine.median_ms:.1f}x)"
        )
    print("  (cpu: this process's CPU time per request, the part other load on the machine does not inflate)")
    met = all(measured["ours"].median_ms <= TARGET_MS for measured in results.values())
    same_queries = len({measured["ours"].queries for measured in results.values()}) == 1
    print(
        f"  target: median <= {TARGET_MS:.0f} ms in every case: {'met' if met else 'NOT MET'}; "
        f"same queries at every depth: {'yes' if same_queries else 'NO'}"
    )

    def cell(measure: Measure, mine: Measure | None = None) -> str:
        text = f"{measure.median_ms:.1f} ms"
        if mine is None:
            return f"median {text} (p95 {measure.p95_ms:.1f}, CPU {measure.cpu_ms:.1f}), {measure.queries} queries"
        ratio = measure.median_ms / mine.median_ms
        return f"{text} (CPU {measure.cpu_ms:.1f}), {measure.queries} queries ({ratio:.2f}×)"

    record(
        "api_list",
        "REST API order list",
        [["`GET /api/orders`", "Ours", "DRF `CursorPagination`", "DRF `PageNumberPagination`"]]
        + [
            [name, cell(m["ours"]), cell(m["drf cursor"], m["ours"]), cell(m["drf pages"], m["ours"])]
            for name, m in results.items()
        ],
        note=f"{total:,} orders, {PAGE_SIZE} per page, median of {args.runs}, the three lists taking turns; "
        f"target median ≤ {TARGET_MS:.0f} ms in every case: {'met' if met else 'not met'}",
    )


if __name__ == "__main__":
    main()
