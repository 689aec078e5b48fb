from django.urls import re_path

from media import apis

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^uploads/?$", apis.UploadApi.as_view(), name="upload-create"),
    re_path(r"^media/?$", apis.MediaAssetListApi.as_view(), name="media-list"),
    re_path(r"^media/(?P<asset_id>[^/]+)/?$", apis.MediaAssetDetailApi.as_view(), name="media-detail"),
]
