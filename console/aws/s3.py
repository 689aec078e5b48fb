"""The only module that calls S3 directly (django-storages handles stored media files).

Objects are read as streams: a caller gets an iterator of byte blocks, never the whole
object. Reads of an import's object pin the version (or the ETag) it was planned from, so
an object replaced halfway through an import fails the import instead of mixing files.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from console.aws import clients as aws

logger = logging.getLogger(__name__)

BLOCK_BYTES = 1024 * 1024


class ObjectChanged(Exception):
    """The object is not the version the import started from (replaced or deleted)."""


class ObjectMissing(Exception):
    """No object at that key (deleted before we got to it)."""


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str
    content_type: str
    metadata: dict[str, str]

    @property
    def version(self) -> str:
        """What identifies this content: the version id, or the ETag when unversioned."""
        return self.version_id if self.version_id and self.version_id != "null" else self.etag


def _s3():
    return aws.client("s3")


def safe_filename(filename: str, default: str = "upload") -> str:
    """A file name for a key: the last path part, letters, digits, ``.-_`` only."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:120] or default


def head(*, bucket: str, key: str) -> ObjectInfo:
    try:
        answer = _s3().head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from exc
        raise
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=answer["ContentLength"],
        etag=answer.get("ETag", "").strip('"'),
        version_id=answer.get("VersionId") or "",
        content_type=answer.get("ContentType", ""),
        metadata=answer.get("Metadata", {}),
    )


def read_blocks(
    *,
    bucket: str,
    key: str,
    version_id: str = "",
    etag: str = "",
    start: int | None = None,
    end: int | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[bytes]:
    """Stream ``[start, end)`` of the object (all of it by default) in blocks.

    Raises ObjectChanged when ``version_id``/``etag`` no longer match the object.
    """
    if start is not None and end is not None and end <= start:
        return
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        arguments["VersionId"] = version_id
    elif etag:
        arguments["IfMatch"] = f'"{etag}"'
    if start is not None:
        arguments["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    try:
        body = _s3().get_object(**arguments)["Body"]
    except Exception as exc:
        code = aws.error_code(exc)
        if code in {"PreconditionFailed", "412", "NoSuchVersion"}:
            raise ObjectChanged(f"s3://{bucket}/{key} changed since the import started") from exc
        if code in {"NoSuchKey", "404"}:
            raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from exc
        raise
    try:
        yield from body.iter_chunks(block_bytes)
    finally:
        body.close()


def put(*, bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> str:
    """Store a small object (a thumbnail); returns its ETag."""
    answer = _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {})
    return answer.get("ETag", "").strip('"')


def put_stream(
    *,
    bucket: str,
    key: str,
    blocks: Iterable[bytes],
    part_bytes: int,
    content_type: str,
    content_disposition: str = "",
) -> int:
    """Store an object of any size from a stream of blocks: a multipart upload in parts of
    ``part_bytes`` (S3's minimum is 5 MiB), aborted if anything fails, or one PutObject
    when it fits in one part. Memory holds one part. Returns the bytes written."""
    s3 = _s3()
    extra = {"ContentType": content_type}
    if content_disposition:
        extra["ContentDisposition"] = content_disposition
    parts: list[dict[str, Any]] = []
    buffer, written, upload_id = bytearray(), 0, None

    def send_part() -> None:
        nonlocal upload_id
        if upload_id is None:
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        number = len(parts) + 1
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer))
        parts.append({"ETag": answer["ETag"], "PartNumber": number})
        buffer.clear()

    try:
        for block in blocks:
            buffer += block
            written += len(block)
            if len(buffer) >= part_bytes:
                send_part()
        if upload_id is None:
            s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), **extra)
            return written
        if buffer:
            send_part()
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        if upload_id is not None:
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:
                logger.exception("could not abort the incomplete upload of s3://%s/%s (%s)", bucket, key, upload_id)
        raise
    return written


def delete(*, bucket: str, key: str) -> None:
    _s3().delete_object(Bucket=bucket, Key=key)


def presigned_post(*, bucket: str, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
    """A form that lets a client upload exactly ``key``, of ``content_type`` and at most
    ``max_bytes``, straight to S3 (signature v4). S3 checks the policy, not us."""
    return _s3().generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"bucket": bucket},
            ["eq", "$key", key],
            ["eq", "$Content-Type", content_type],
            ["content-length-range", 1, max_bytes],
        ],
        ExpiresIn=expires_in,
    )


def presigned_get(*, bucket: str, key: str, expires_in: int = 600, filename: str = "") -> str:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'inline; filename="{filename}"'
    return _s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
