"""The console's order list on the loaded orders: unfiltered, filtered by status, searched
by order id, against a default ModelAdmin (same columns, status filter, id search) in the
same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.changelist [--runs 30]

Target: median <= 150 ms server time for each; the query count is printed.
"""

import argparse

from bench.common import machine_note, measure, record, setup

TARGET_MS = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args()
    setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from console.platform import roles
    from orders.models import Order

    user, _ = get_user_model().objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = Client()
    client.force_login(user)

    total = Order.objects.count()
    # An order from the middle of the table, searched by its full id.
    order_id = str(Order.objects.order_by("-created_at", "-pk")[total // 2 : total // 2 + 1].get().pk)
    cases = {
        "unfiltered": ("", ""),
        "status = AWAITING_APPROVAL": ("?status__exact=AWAITING_APPROVAL", "?status__exact=AWAITING_APPROVAL"),
        "search by order id": (f"?q={order_id}", f"?q={order_id}"),
        "search by id prefix (8 chars)": (f"?q={order_id[:8]}", None),
    }
    print(
        f"Orders changelist: {total:,} orders, 100 per page, server time in process ({machine_note()})\n"
        f"  ours median of {args.runs}; default ModelAdmin median of {args.baseline_runs}"
    )
    print(
        f"  {'':<32}{'ours':>10} {'p95':>8} {'cpu':>7} {'queries':>8}   {'default':>10} {'queries':>8}"
        f"   {'default/ours':>12}"
    )
    met = True
    rows = [["Changelist", "Ours", "Default `ModelAdmin` (same run)"]]
    for name, (ours_query, default_query) in cases.items():
        mine = measure(client, f"/orders/order/{ours_query}", runs=args.runs)
        met = met and mine.median_ms <= TARGET_MS
        line = f"  {name:<32}{mine.median_ms:>8.1f}ms {mine.p95_ms:>6.1f}ms {mine.cpu_ms:>5.1f}ms {mine.queries:>8}   "
        if default_query is None:
            line += f"{'(no prefix search)':>22}"
        else:
            base = measure(client, f"/bench-admin/orders/order/{default_query}", runs=args.baseline_runs, warmup=1)
            line += f"{base.median_ms:>8.1f}ms {base.queries:>8}   {base.median_ms / mine.median_ms:>11.1f}x"
        print(line, flush=True)
        rows.append(
            [
                name,
                f"median {mine.median_ms:.1f} ms (p95 {mine.p95_ms:.1f}, CPU {mine.cpu_ms:.1f}), "
                f"{mine.queries} queries",
                "no prefix search"
                if default_query is None
                else f"{base.median_ms:.1f} ms, {base.queries} queries ({base.median_ms / mine.median_ms:.1f}×)",
            ]
        )
    print(f"  target: median <= {TARGET_MS:.0f} ms for each: {'met' if met else 'NOT MET'}")
    record(
        "changelist",
        "Console order list",
        rows,
        note=f"{total:,} orders, 100 per page; target median ≤ {TARGET_MS:.0f} ms for each: "
        f"{'met' if met else 'not met'}",
    )


if __name__ == "__main__":
    main()
