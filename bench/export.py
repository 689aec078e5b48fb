"""The console's CSV export of the whole order list (all loaded orders), streamed: rows per
second, and the process's peak memory before and after, which must not grow with the rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.export
"""

import resource
import time

from bench.common import machine_note, record, setup


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from console.platform import roles

    user, _ = get_user_model().objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = Client()
    client.force_login(user)

    before = peak_mb()
    started = time.perf_counter()
    response = client.get("/orders/order/export/")
    assert response.status_code == 200 and response.streaming
    rows = size = 0
    first_byte = None
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    print(f"CSV export of the unfiltered order list, streamed ({machine_note()})")
    print(f"  {rows - 1:,} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s ({(rows - 1) / elapsed:,.0f} rows/s)")
    print(f"  first bytes after {first_byte * 1000:.0f} ms")
    print(f"  peak memory of the process: {before:.0f} MB before, {peak_mb():.0f} MB after")
    record(
        "export",
        "CSV export of the order list, streamed",
        [
            ["Figure", "Measured"],
            ["Rows, size, time", f"{rows - 1:,} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s"],
            ["First bytes after", f"{first_byte * 1000:.0f} ms"],
            ["Peak memory of the process", f"{before:.0f} MB before, {peak_mb():.0f} MB after"],
        ],
    )


if __name__ == "__main__":
    main()
