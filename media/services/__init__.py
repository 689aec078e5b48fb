"""Writes of the media app (``uploads``: uploads, media processing, S3 events),
importable from here. Order CSV imports are the orders app's (``orders.imports``)."""

from media.services.uploads import (
    CSV_CONTENT_TYPES,
    MEDIA_PREFIX,
    THUMBNAIL_SUFFIX,
    UploadRefused,
    UploadTicket,
    media_asset_process,
    media_asset_upload,
    s3_object_created,
    safe_filename,
    thumbnail_key,
    upload_content_types,
    upload_request,
)

__all__ = [
    "CSV_CONTENT_TYPES",
    "MEDIA_PREFIX",
    "THUMBNAIL_SUFFIX",
    "UploadRefused",
    "UploadTicket",
    "media_asset_process",
    "media_asset_upload",
    "s3_object_created",
    "safe_filename",
    "thumbnail_key",
    "upload_content_types",
    "upload_request",
]
