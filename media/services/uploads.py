"""Uploads: presigned POST forms for REST clients, console uploads through the storage,
and what S3 events make of new objects (media processing; an order CSV is handed to the
orders app's import, ``orders.imports.services.csv_object_received``)."""

import hashlib
import io
import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.aws import resources, s3
from console.models import AuditEntry
from console.platform.audit import audit_record
from media.content_check import ContentCheck
from media.models import MediaAsset
from media.storage import files_storage
from orders.imports.options import import_options_check
from orders.imports.services import CSV_PREFIX, csv_object_received, csv_upload_record

logger = logging.getLogger(__name__)

MEDIA_PREFIX = "media/"
THUMBNAIL_SUFFIX = ".thumb.jpg"
CSV_CONTENT_TYPES = ("text/csv", "application/vnd.ms-excel", "text/plain")


def upload_content_types() -> list[str]:
    """Every content type an upload may declare (media, then order CSVs), read at call
    time: ``MEDIA_CONTENT_TYPES`` is a setting."""
    return list(dict.fromkeys([*settings.MEDIA_CONTENT_TYPES, *CSV_CONTENT_TYPES]))


class UploadRefused(ValueError):
    """The upload request breaks a limit (content type, size); ``field`` names the input."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


# --- Uploads -----------------------------------------------------------------------------------


@dataclass
class UploadTicket:
    url: str
    fields: dict[str, str]
    key: str
    expires_at: Any
    max_bytes: int
    asset: MediaAsset | None = None


def safe_filename(filename: str, default: str = "upload") -> str:
    """A file name for a key (``console.aws.s3.safe_filename``) that never collides with
    the thumbnails we store beside originals."""
    return s3.safe_filename(filename, default).replace(".thumb.", ".")


def upload_request(
    *,
    purpose: str,
    filename: str,
    content_type: str,
    size: int,
    actor,
    mode: str | None = None,
    strict: bool | None = None,
) -> UploadTicket:
    """A presigned POST for one upload, with the key chosen here. Purposes: ``media``
    (a media asset is recorded, awaiting the upload) and ``orders-csv`` (an order CSV
    dropped in ``incoming/orders/``, recorded as the actor's upload, and imported when S3
    reports it, with the ``mode`` and ``strict`` chosen here, else the defaults).

    Raises UploadRefused (a limit, or import options for a media upload) and
    ImportForbidden (history mode without ``orders.import_history``)."""
    if purpose == "media" and (mode is not None or strict is not None):
        field = "mode" if mode is not None else "strict"
        raise UploadRefused(field, f"{field} is an option of order CSV imports (purpose 'orders-csv') only.")
    if purpose == "orders-csv":
        import_options_check(mode=mode, actor=actor)
    if purpose == "media":
        allowed, max_bytes = settings.MEDIA_CONTENT_TYPES, settings.MEDIA_UPLOAD_MAX_BYTES
    elif purpose == "orders-csv":
        allowed, max_bytes = CSV_CONTENT_TYPES, settings.CSV_UPLOAD_MAX_BYTES
    else:
        raise UploadRefused("purpose", f"Unknown purpose {purpose!r}: use 'media' or 'orders-csv'.")
    if content_type not in allowed:
        raise UploadRefused("contentType", f"{content_type!r} is not accepted; use one of: {', '.join(allowed)}.")
    if size < 1 or size > max_bytes:
        raise UploadRefused("size", f"The file must be between 1 byte and {max_bytes:,} bytes.")
    name = safe_filename(filename)
    bucket = resources.files_bucket()
    upload_id = uuid.uuid4()
    user = actor if getattr(actor, "is_authenticated", False) else None
    asset = None
    after = {"purpose": purpose, "contentType": content_type, "size": size}
    with transaction.atomic():
        if purpose == "media":
            key = f"{MEDIA_PREFIX}{upload_id}/{name}"
            asset = MediaAsset.objects.create(
                id=upload_id,
                file=key,
                original_name=filename[:255],
                content_type=content_type,
                declared_size=size,
                uploaded_by=user,
            )
        else:
            if not name.lower().endswith(".csv"):
                name += ".csv"
            key = f"{CSV_PREFIX}{upload_id}-{name}"
            csv_upload_record(
                key=key,
                uploaded_by=user,
                content_type=content_type,
                declared_size=size,
                mode=mode,
                strict=strict,
                original_name=filename,
                source=AuditEntry.Source.API,
            )
            after.update(mode=mode, strict=strict)
        audit_record(
            action="upload.request",
            object_type="media.upload",
            object_id=key[:64],
            actor=actor,
            source=AuditEntry.Source.API,
            after={**after, "key": key},
        )
    form = s3.presigned_post(
        bucket=bucket,
        key=key,
        content_type=content_type,
        max_bytes=max_bytes,
        expires_in=settings.UPLOAD_URL_EXPIRES_SECONDS,
    )
    return UploadTicket(
        url=form["url"],
        fields=form["fields"],
        key=key,
        expires_at=timezone.now() + timedelta(seconds=settings.UPLOAD_URL_EXPIRES_SECONDS),
        max_bytes=max_bytes,
        asset=asset,
    )


def media_asset_upload(*, uploaded_file, actor) -> MediaAsset:
    """A console upload: stored in S3 through django-storages; processing follows from the
    S3 event, as for direct uploads."""
    content_type = getattr(uploaded_file, "content_type", "") or "application/octet-stream"
    if content_type not in settings.MEDIA_CONTENT_TYPES:
        raise UploadRefused("file", f"{content_type!r} files are not accepted here.")
    if uploaded_file.size > settings.MEDIA_UPLOAD_MAX_BYTES:
        raise UploadRefused("file", f"The file is larger than {settings.MEDIA_UPLOAD_MAX_BYTES:,} bytes.")
    asset_id = uuid.uuid4()
    key = f"{MEDIA_PREFIX}{asset_id}/{safe_filename(uploaded_file.name)}"
    stored = files_storage().save(key, uploaded_file)
    with transaction.atomic():
        asset = MediaAsset.objects.create(
            id=asset_id,
            file=stored,
            original_name=uploaded_file.name[:255],
            content_type=content_type,
            declared_size=uploaded_file.size,
            status=MediaAsset.Status.PROCESSING,
            uploaded_by=actor,
        )
        audit_record(
            action="media.upload",
            obj=asset,
            actor=actor,
            source=AuditEntry.Source.CONSOLE,
            after={"key": stored, "size": uploaded_file.size},
        )
    return asset


# --- S3 events -----------------------------------------------------------------------------------


def s3_object_created(*, bucket: str, key: str) -> str:
    """Route a new object of the files bucket: media is processed, order CSVs handed to
    the orders app's import. ``key`` is as S3 events carry it (URL-encoded). What the
    object is (size, ETag, version) is read from S3 itself, not trusted from the event.
    Returns what was done."""
    key = unquote_plus(key)
    if key.startswith(MEDIA_PREFIX):
        if key.endswith(THUMBNAIL_SUFFIX):
            return "thumbnail"
        media_asset_process(bucket=bucket, key=key)
        return "media"
    if key.startswith(CSV_PREFIX):
        csv_object_received(bucket=bucket, key=key)
        return "import"
    return "ignored"


def media_asset_process(*, bucket: str, key: str) -> MediaAsset:
    """Size, content type, SHA-256 and (images) a thumbnail beside the original.

    Safe to repeat: an asset already processed for the object's ETag is left alone. What
    arrived must be what was declared: an object breaking the upload limits (which S3's
    policy should have refused), of another size than declared, or whose bytes are not its
    content type (``media.content_check``: an HTML page sent as image/png) is deleted and
    the asset rejected, with the reason.
    """
    try:
        info = s3.head(bucket=bucket, key=key)
    except s3.ObjectMissing:
        logger.warning("s3://%s/%s is gone before processing", bucket, key)
        return MediaAsset.objects.filter(file=key).first()
    asset, created = MediaAsset.objects.get_or_create(
        file=key,
        defaults={
            "original_name": PurePosixPath(key).name[:255],
            "content_type": info.content_type or "application/octet-stream",
            "status": MediaAsset.Status.PROCESSING,
        },
    )
    if asset.status in {MediaAsset.Status.READY, MediaAsset.Status.REJECTED} and asset.etag == info.etag:
        return asset
    problem = _upload_problem(asset, info)
    if problem:
        s3.delete(bucket=bucket, key=key)
        return _asset_finish(asset, status=MediaAsset.Status.REJECTED, detail=problem, info=info)

    digest = hashlib.sha256()
    check = ContentCheck(asset.content_type, max_image_pixels=settings.MEDIA_MAX_IMAGE_PIXELS)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
        keep = check.needs_copy
        for block in s3.read_blocks(bucket=bucket, key=key, etag=info.etag):
            digest.update(block)
            check.feed(block)
            if keep:
                copy.write(block)
        problem = check.problem(copy if keep else None)
        thumbnail, size = "", (None, None)
        if not problem and asset.is_image:
            copy.seek(0)
            try:
                thumbnail, size = _thumbnail(bucket, key, copy)
            except Exception as exc:  # Pillow raises many kinds for an image it cannot decode
                problem = f"The image cannot be decoded ({type(exc).__name__}: {exc})."
    if problem:
        s3.delete(bucket=bucket, key=key)
        return _asset_finish(
            asset, status=MediaAsset.Status.REJECTED, detail=problem, info=info, checksum=digest.hexdigest()
        )
    return _asset_finish(
        asset,
        status=MediaAsset.Status.READY,
        detail="",
        info=info,
        checksum=digest.hexdigest(),
        thumbnail=thumbnail,
        dimensions=size,
    )


def _upload_problem(asset: MediaAsset, info: s3.ObjectInfo) -> str:
    if info.size > settings.MEDIA_UPLOAD_MAX_BYTES:
        return f"The object is {info.size:,} bytes, over the {settings.MEDIA_UPLOAD_MAX_BYTES:,}-byte limit."
    if info.content_type not in settings.MEDIA_CONTENT_TYPES:
        return f"Content type {info.content_type!r} is not accepted."
    if asset.content_type and info.content_type != asset.content_type:
        return f"Uploaded as {info.content_type!r}, but {asset.content_type!r} was requested."
    if asset.declared_size is not None and info.size != asset.declared_size:
        return f"The object is {info.size:,} bytes, but {asset.declared_size:,} bytes were declared."
    return ""


def thumbnail_key(key: str) -> str:
    path = PurePosixPath(key)
    return str(path.with_name(path.stem + THUMBNAIL_SUFFIX))


def _thumbnail(bucket: str, key: str, image_file) -> tuple[str, tuple[int, int]]:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = settings.MEDIA_MAX_IMAGE_PIXELS
    with Image.open(image_file) as image:
        dimensions = image.size
        image = ImageOps.exif_transpose(image)
        image.thumbnail((settings.MEDIA_THUMBNAIL_SIZE, settings.MEDIA_THUMBNAIL_SIZE))
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        output = io.BytesIO()
        image.save(output, format="JPEG", quality=85)
    target = thumbnail_key(key)
    s3.put(bucket=bucket, key=target, body=output.getvalue(), content_type="image/jpeg", metadata={"thumbnail-of": key})
    return target, dimensions


def _asset_finish(
    asset: MediaAsset,
    *,
    status: str,
    detail: str,
    info: s3.ObjectInfo,
    checksum: str = "",
    thumbnail: str = "",
    dimensions: tuple = (None, None),
) -> MediaAsset:
    with transaction.atomic():
        asset.status = status
        asset.status_detail = detail
        asset.size = info.size
        asset.etag = info.etag
        asset.checksum_sha256 = checksum
        asset.thumbnail = thumbnail
        asset.width, asset.height = dimensions
        asset.processed_at = timezone.now()
        asset.save()
        audit_record(
            action="media.process" if status == MediaAsset.Status.READY else "media.reject",
            obj=asset,
            reason=detail,
            after={"status": status, "size": info.size, "sha256": checksum, "thumbnail": thumbnail},
        )
    return asset
