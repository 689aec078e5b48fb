"""Reads of media assets, and who may see which.

Someone with ``media.view_all_mediaassets`` sees every media asset, as console staff do;
anyone else, an API client, only those they uploaded. Every list and page goes through
here. (Order CSV imports are the orders app's: ``orders.imports.selectors``.)
"""

from django.db.models import QuerySet

from media.models import VIEW_ALL_MEDIA_ASSETS, MediaAsset


def media_assets_visible_to(*, user) -> QuerySet[MediaAsset]:
    """The media assets ``user`` sees: all with ``media.view_all_mediaassets``, else the
    ones they uploaded."""
    qs = MediaAsset.objects.select_related("uploaded_by").order_by("-created_at")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.has_perm(VIEW_ALL_MEDIA_ASSETS):
        return qs
    return qs.filter(uploaded_by=user)
