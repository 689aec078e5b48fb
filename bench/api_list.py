"""GET /api/orders on the loaded orders: the first page and a page 10,000 deep, against
plain DRF (PageNumberPagination) in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.api_list [--runs 50]

Target: median <= 25 ms at both depths, the same number of queries at both.
"""

import argparse

from bench.common import machine_note, measure, record, setup

PAGE_SIZE = 50
DEEP_PAGE = 10_000
TARGET_MS = 25.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--baseline-runs", type=int, default=10)
    args = parser.parse_args()
    setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from console.api.pagination import Ordering, _encode
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
    deep_row = DEEP_PAGE * PAGE_SIZE
    # The cursor a client holds after following "next" 9,999 times (found once, with an OFFSET).
    anchor = Order.objects.order_by("-created_at", "-pk")[deep_row - 1 : deep_row].get()
    deep_cursor = _encode(Ordering("created_at", True), anchor, backwards=False)

    ours = {
        "first page": measure(client, f"/api/orders?limit={PAGE_SIZE}", runs=args.runs),
        f"page {DEEP_PAGE:,}": measure(client, f"/api/orders?limit={PAGE_SIZE}&cursor={deep_cursor}", runs=args.runs),
        "first page, status filter": measure(
            client, f"/api/orders?limit={PAGE_SIZE}&status=AWAITING_APPROVAL", runs=args.runs
        ),
    }
    plain = {
        "first page": measure(client, "/bench-api/orders?page=1", runs=args.baseline_runs),
        f"page {DEEP_PAGE:,}": measure(client, f"/bench-api/orders?page={DEEP_PAGE}", runs=args.baseline_runs),
        "first page, status filter": measure(
            client, "/bench-api/orders?page=1&status=AWAITING_APPROVAL", runs=args.baseline_runs
        ),
    }
    deep_first = ours[f"page {DEEP_PAGE:,}"].queries == ours["first page"].queries

    print(f"GET /api/orders: {total:,} orders, {PAGE_SIZE} per page, server time in process ({machine_note()})")
    print(
        f"  ours: keyset cursor, median of {args.runs}; plain DRF PageNumberPagination, median of {args.baseline_runs}"
    )
    print(
        f"  {'':<28}{'ours':>10} {'p95':>8} {'cpu':>7} {'queries':>8}   {'plain DRF':>10} {'queries':>8}"
        f"   {'plain/ours':>10}"
    )
    for name, mine in ours.items():
        base = plain[name]
        print(
            f"  {name:<28}{mine.median_ms:>8.1f}ms {mine.p95_ms:>6.1f}ms {mine.cpu_ms:>5.1f}ms {mine.queries:>8}   "
            f"{base.median_ms:>8.1f}ms {base.queries:>8}   {base.median_ms / mine.median_ms:>9.1f}x"
        )
    print("  (cpu: this process's CPU time per request, the part other load on the machine does not inflate)")
    met = all(m.median_ms <= TARGET_MS for m in ours.values())
    print(
        f"  target: median <= {TARGET_MS:.0f} ms at every depth: {'met' if met else 'NOT MET'}; "
        f"same queries at page 1 and page {DEEP_PAGE:,}: {'yes' if deep_first else 'NO'}"
    )
    record(
        "api_list",
        "REST API order list",
        [["`GET /api/orders`", "Ours (keyset cursor)", "Plain DRF `PageNumberPagination` (same run)"]]
        + [
            [
                name,
                f"median {mine.median_ms:.1f} ms (p95 {mine.p95_ms:.1f}, CPU {mine.cpu_ms:.1f}), "
                f"{mine.queries} queries",
                f"{plain[name].median_ms:.1f} ms, {plain[name].queries} queries "
                f"({plain[name].median_ms / mine.median_ms:.1f}×)",
            ]
            for name, mine in ours.items()
        ],
        note=f"{total:,} orders, {PAGE_SIZE} per page; target median ≤ {TARGET_MS:.0f} ms at every depth: "
        f"{'met' if met else 'not met'}",
    )


if __name__ == "__main__":
    main()
