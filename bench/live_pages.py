"""What an open live page costs (console.pages.live): requests per minute while it sits idle,
and the bytes of one poll when nothing changed (304) and when something did (the region).

    .venv/bin/python bench/live_pages.py [--database-url URL] [--runs 20]

Runs the local AWS (no consumer) on a scratch database (a new SQLite file by default),
seeds each live page with a little data (20 pending approvals, their orders and
executions, a media asset, an import, a redrive job) and requests every page as a
superuser with Django's test client: the page, a poll without an ETag (what a changed
region sends: the region whole) and a poll with the region's ETag (304). Bytes are the
response's status line, headers and body as the server sends them (API Gateway adds its
own headers to both). Requests per minute follow from the poll interval
(``LIVE_POLL_SECONDS``, or the region's own) and the visibility rule: none while hidden.
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import local_stack  # noqa: E402


def wire_bytes(response) -> int:
    status = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
    return len(status) + len(response.serialize_headers()) + 4 + len(response.content)


def seed(user) -> dict[str, str]:
    """A little of everything the live pages show; their URLs."""
    from django.urls import reverse

    from media.models import MediaAsset
    from ops.models import RedriveJob
    from orders.imports.models import Import
    from orders.lifecycle import OrderStatus
    from orders.models import Order, OrderItem
    from workflows.models import Approval, Execution, token_digest

    approvals = []
    for n in range(20):
        order = Order.objects.create(user_id=f"bench-{n}", status=OrderStatus.AWAITING_APPROVAL, total=20 + n)
        OrderItem.objects.create(order=order, product_id="p1", name="Widget", quantity=1, price=20 + n)
        execution = Execution.objects.create(
            order=order, name=f"order-{order.pk}", state_machine="order-processing", status="RUNNING"
        )
        approvals.append(
            Approval.objects.create(
                order=order,
                execution=execution,
                state_name="RequestApproval",
                task_token=f"token-{n}",
                token_sha256=token_digest(f"token-{n}"),
            )
        )
    asset = MediaAsset.objects.create(
        file="media/bench/shelf.png", original_name="shelf.png", content_type="image/png", status="PROCESSING"
    )
    asset.uploaded_by = user
    asset.save(update_fields=["uploaded_by"])
    pages = {
        "home": reverse("admin:index"),
        "approvals inbox": reverse("admin:workflows_approval_changelist"),
        "an approval": reverse("admin:workflows_approval_change", args=[approvals[0].pk]),
        "executions": reverse("admin:workflows_execution_changelist"),
        "an execution": reverse("admin:workflows_execution_change", args=[approvals[0].execution_id]),
        "an order": reverse("admin:orders_order_change", args=[approvals[0].order_id]),
        "media": reverse("admin:media_mediaasset_changelist"),
        "a media asset": reverse("admin:media_mediaasset_change", args=[asset.pk]),
        "imports": reverse("admin:orders_import_changelist"),
        "redrive jobs": reverse("admin:ops_redrivejob_changelist"),
        "dead letters": reverse("admin:ops_deadletter_changelist"),
        "queues": reverse("admin:ops_queue_changelist"),
    }
    run = Import.objects.create(bucket="bench", key="incoming/orders/bench.csv", size=10, chunk_bytes=16 << 20)
    pages["an import"] = reverse("admin:orders_import_change", args=[run.pk])
    job = RedriveJob.objects.create(queue_name="bench-dlq", total=10)
    pages["a redrive job"] = reverse("admin:ops_redrivejob_change", args=[job.pk])
    return pages


def median_ms(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"sqlite:///{tempfile.mkdtemp(prefix='ops-bench-live-')}/live.sqlite3"
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with local_stack(args.database_url, consumer=False):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from console.pages.live import poll_seconds

        user = get_user_model().objects.create_superuser("bench-live", password="x")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        pages = seed(user)

        rows = [
            [
                "Page",
                "Region",
                "Every",
                "Requests/min idle (visible / hidden)",
                "Page bytes",
                "Poll, nothing changed",
                "Poll, changed (the region)",
                "Server ms 304 / 200",
            ]
        ]
        for label, url in pages.items():
            page = client.get(url)
            assert page.status_code == 200, (label, page.status_code)
            html = page.content.decode()
            for region, every in re.findall(r'data-live-region="([^"]+)"[^>]*hx-trigger="every (\d+)s', html):
                headers = {"HTTP_X_LIVE_REGION": region}
                changed = client.get(url, **headers)
                assert changed.status_code == 200, (label, region, changed.status_code)
                etag = changed["ETag"]
                same = client.get(url, HTTP_IF_NONE_MATCH=etag, **headers)
                assert same.status_code == 304, (label, region, same.status_code)
                ms_304 = median_ms(
                    lambda url=url, etag=etag, headers=headers: client.get(url, HTTP_IF_NONE_MATCH=etag, **headers),
                    args.runs,
                )
                ms_200 = median_ms(lambda url=url, headers=headers: client.get(url, **headers), args.runs)
                rows.append(
                    [
                        label,
                        region,
                        f"{every} s",
                        f"{60 / int(every):.0f} / 0",
                        f"{wire_bytes(page):,}",
                        f"{wire_bytes(same):,} B (304)",
                        f"{wire_bytes(changed):,} B",
                        f"{ms_304:.1f} / {ms_200:.1f}",
                    ]
                )
        width = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(str(cell).ljust(width[i]) for i, cell in enumerate(row)))
        record(
            "live-pages",
            "Live pages: an idle open page",
            rows,
            note=f"LIVE_POLL_SECONDS={poll_seconds()}; bytes are the response as the server sends it",
        )


if __name__ == "__main__":
    main()
