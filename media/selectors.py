"""Reads of media assets, and who may see which.

Someone with ``media.view_all_mediaassets`` sees every media asset, as console staff do;
anyone else, an API client, only those they uploaded. Every list and page goes through
here. (Order CSV imports are the orders app's: ``orders.imports.selectors``.)
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from console.aws import s3
from console.aws.resources import files_bucket
from media.models import VIEW_ALL_MEDIA_ASSETS, MediaAsset

# How long a preview link works: long enough to open it, short enough that a link passed
# on stops working soon.
PREVIEW_SECONDS = 600


def media_assets_visible_to(*, user) -> QuerySet[MediaAsset]:
    """The media assets ``user`` sees: all with ``media.view_all_mediaassets``, else the
    ones they uploaded."""
    qs = MediaAsset.objects.select_related("uploaded_by").order_by("-created_at")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.has_perm(VIEW_ALL_MEDIA_ASSETS):
        return qs
    return qs.filter(uploaded_by=user)


def media_asset_list(*, user, filters: dict | None = None) -> QuerySet[MediaAsset]:
    """``media_assets_visible_to``, filtered by ``status`` and ``content_type``; newest first."""
    filters = filters or {}
    qs = media_assets_visible_to(user=user)
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if content_type := filters.get("content_type"):
        qs = qs.filter(content_type=content_type)
    return qs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class MediaPreview:
    """Presigned GETs of an asset's object and thumbnail ("" where there is none)."""

    url: str
    thumbnail_url: str
    expires_at: datetime | None


def media_asset_preview(*, asset: MediaAsset, expires_in: int = PREVIEW_SECONDS) -> MediaPreview:
    """Links to a READY asset's object (shown inline, under its original name) and its
    thumbnail, valid ``expires_in`` seconds. Other assets have no object to show (awaiting
    upload, or deleted when rejected): empty links. Signing is local (no call to S3)."""
    if asset.status != MediaAsset.Status.READY:
        return MediaPreview(url="", thumbnail_url="", expires_at=None)
    bucket = files_bucket()
    url = s3.presigned_get(
        bucket=bucket, key=asset.key, expires_in=expires_in, filename=s3.safe_filename(asset.original_name)
    )
    thumbnail = (
        s3.presigned_get(bucket=bucket, key=asset.thumbnail.name, expires_in=expires_in) if asset.thumbnail else ""
    )
    return MediaPreview(url=url, thumbnail_url=thumbnail, expires_at=timezone.now() + timedelta(seconds=expires_in))
