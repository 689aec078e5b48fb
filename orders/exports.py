"""The order list as CSV: streamed to the browser, or written to a file in S3 by a job.

Streaming keeps memory flat at any size, but behind API Gateway a Lambda response is
buffered whole and may not pass 6 MB (a million orders is 136 MB). So where the console
runs on Lambda (``ORDER_EXPORT_TO_FILE``, on there by default) the Export button posts
the list's filters and a job writes the list, filtered and searched exactly as the
operator's changelist (the same selector, ``orders.selectors.order_console_list``), to the files bucket under
``exports/orders/`` in a multipart upload, then emails the operator a console link. The
link is signed, bound to the operator and expires (``ORDER_EXPORT_LINK_MAX_AGE``); the
console checks who follows it and redirects to a presigned download valid for minutes.
No S3 credential or key is ever in the email.

Cells that spreadsheets would run as formulas are neutralised either way.
"""

import csv
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from console.api.pagination import keyset_chunks
from console.aws import s3
from console.aws.resources import files_bucket
from console.models import AuditEntry
from console.platform.audit import audit_record
from console.platform.spreadsheet import neutralise_row
from console.runtime import jobs
from orders.selectors import OrderListInvalid, order_console_list

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = ["order_id", "user_id", "status", "total", "created_at", "updated_at", "status_reason"]
EXPORT_PREFIX = "exports/orders/"
PART_BYTES = 8 * 1024 * 1024  # S3's multipart minimum is 5 MiB
DOWNLOAD_SECONDS = 300
_SALT = "orders.export.download"


class ExportRefused(Exception):
    """The export cannot be made or fetched: the message says why, for the operator."""


class _Echo:
    """A file-like object whose write returns the line, for csv.writer into a generator."""

    def write(self, value: str) -> str:
        return value


def export_queryset(changelist_queryset: QuerySet) -> QuerySet:
    return changelist_queryset.only(*[c for c in EXPORT_COLUMNS if c != "order_id"], "id")


def csv_lines(queryset: QuerySet) -> Iterator[str]:
    """The header and one line per order, newest first, read in keyset chunks."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)  # BOM: spreadsheets read the file as UTF-8
    for chunk in keyset_chunks(queryset, ordering="-created_at"):
        for order in chunk:
            yield writer.writerow(
                neutralise_row(
                    [
                        str(order.pk),
                        order.user_id,
                        order.status,
                        order.total,
                        order.created_at.isoformat(),
                        order.updated_at.isoformat(),
                        order.status_reason,
                    ]
                )
            )


def export_filename() -> str:
    return f"orders-{timezone.now():%Y%m%d-%H%M%S}.csv"


# --- To a file, by a job -------------------------------------------------------------------


def export_to_file_request(*, user, filters: str) -> str:
    """Audit the export and queue the job that writes it (after the commit). Returns the
    object key the file will have."""
    key = f"{EXPORT_PREFIX}{timezone.now():%Y/%m/%d}/{uuid.uuid4()}.csv"
    audit_record(
        action="order.export",
        object_type="orders.order",
        actor=user,
        source=AuditEntry.Source.CONSOLE,
        reason=f"CSV export of the order list to a file ({filters or 'all orders'})",
        after={"filters": filters, "key": key},
    )

    # Queued after the commit; a broker that refuses it fails the operator's request.
    transaction.on_commit(lambda: jobs.enqueue("orders.export_to_file", user.pk, filters, key))
    return key


def export_to_file(*, user_id: int, filters: str, key: str) -> int:
    """The job: write the operator's filtered list to ``key`` in the files bucket and email
    them the link. Returns the number of orders written."""
    user = get_user_model().objects.get(pk=user_id)
    if not (user.is_active and user.has_perm("orders.view_order") and user.has_perm("orders.export_order")):
        raise ExportRefused(f"{user.get_username()} may no longer export orders")
    # The changelist's own rows for its filters and search (the same selector).
    try:
        queryset = export_queryset(order_console_list(params=QueryDict(filters)))
    except OrderListInvalid as exc:
        raise ExportRefused(f"The list's filters are not valid: {exc}") from None

    counted = _Counted(csv_lines(queryset))
    written = s3.put_stream(
        bucket=files_bucket(),
        key=key,
        blocks=(line.encode("utf-8") for line in counted),
        part_bytes=PART_BYTES,
        content_type="text/csv; charset=utf-8",
        content_disposition=f'attachment; filename="{export_filename()}"',
    )
    rows = counted.lines - 1
    audit_record(
        action="order.export.written",
        object_type="orders.order",
        source=AuditEntry.Source.SYSTEM,
        reason=f"{rows} orders written for {user.get_username()} ({filters or 'all orders'})",
        after={"filters": filters, "key": key, "rows": rows, "bytes": written},
    )
    _email_link(user=user, key=key, rows=rows)
    return rows


class _Counted:
    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.lines = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.lines += 1
            yield line


def _email_link(*, user, key: str, rows: int) -> None:
    if not user.email:
        logger.warning("export %s is ready but %s has no email address", key, user.get_username())
        return
    url = settings.CONSOLE_BASE_URL.rstrip("/") + reverse(
        "admin:orders_order_export_download", args=[download_token(key=key, user_id=user.pk)]
    )
    days = settings.ORDER_EXPORT_LINK_MAX_AGE // 86400
    send_mail(
        subject=f"Your order export is ready: {rows} orders",
        message=(
            f"The order list you exported ({rows} orders) is ready:\n\n{url}\n\n"
            f"Open it while logged in to the console. The link is yours alone and works for "
            f"{days} day{'s' if days != 1 else ''}.\n"
        ),
        from_email=None,
        recipient_list=[user.email],
    )


# --- The download link ---------------------------------------------------------------------


def download_token(*, key: str, user_id: int) -> str:
    return signing.dumps({"key": key, "user": user_id}, salt=_SALT, compress=True)


def download_url(*, token: str, user) -> str:
    """A presigned URL of the export the token names, for the user it was made for."""
    try:
        value: dict[str, Any] = signing.loads(token, salt=_SALT, max_age=settings.ORDER_EXPORT_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise ExportRefused("This export link has expired: export the list again.") from None
    except signing.BadSignature:
        raise PermissionDenied("Not a valid export link.") from None
    if value.get("user") != user.pk or not str(value.get("key", "")).startswith(EXPORT_PREFIX):
        raise PermissionDenied("This export link was made for somebody else.")
    bucket = files_bucket()
    try:
        s3.head(bucket=bucket, key=value["key"])
    except s3.ObjectMissing:
        raise ExportRefused("This export is no longer stored: export the list again.") from None
    # The object's own Content-Disposition names the download (orders-<when>.csv).
    return s3.presigned_get(bucket=bucket, key=value["key"], expires_in=DOWNLOAD_SECONDS)
