"""REST endpoint for uploads (camelCase JSON, the project's problem shape for errors).

POST /api/uploads       a presigned POST form for one upload -> 201
GET  /api/media         media assets, newest first (cursor-paginated; status, contentType)
GET  /api/media/{id}    one media asset, with presigned links to its file and thumbnail

Media assets are those ``media.selectors`` lets the caller see: console staff every one, an
API client those it uploaded (another client's asset is a 404, as if it did not exist).

A media asset is recorded awaiting its upload; an order CSV is recorded as the client's
upload for the orders app's import (``orders.imports``), which starts when S3 reports the
object. Order CSV imports themselves are the orders app's: ``orders.imports.apis``.
"""

import uuid

from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import BAD_INPUT, FORBIDDEN, PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from media import selectors, services
from media.models import MediaAsset
from orders.imports.apis import ImportModeField, import_forbidden
from orders.imports.options import ImportForbidden


class UploadInputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(
        choices=["media", "orders-csv"],
        help_text="`media`: a media asset (needs media.add_mediaasset); `orders-csv`: an order CSV, imported "
        "when it arrives (needs orders.add_import).",
    )
    filename = serializers.CharField(max_length=255)
    # Choices are set per instance: MEDIA_CONTENT_TYPES is a setting, read at call time.
    contentType = serializers.ChoiceField(
        source="content_type",
        choices=[],
        help_text="Media: one of MEDIA_CONTENT_TYPES; order CSVs: text/csv, application/vnd.ms-excel, text/plain.",
    )
    size = serializers.IntegerField(min_value=1, help_text="Bytes; the object must be exactly this size.")
    mode = ImportModeField(
        required=False,
        help_text="Order CSVs only: the import's mode (default CSV_IMPORT_MODE); `history` needs "
        "orders.import_history (403 otherwise).",
    )
    strict = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Order CSVs only: import nothing if a row is rejected."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contentType"].choices = services.upload_content_types()


class UploadOutputSerializer(serializers.Serializer):
    url = serializers.URLField()
    fields = serializers.DictField(child=serializers.CharField())
    key = serializers.CharField()
    expiresAt = serializers.DateTimeField(source="expires_at")
    maxBytes = serializers.IntegerField(source="max_bytes")
    assetId = serializers.UUIDField(source="asset.pk", allow_null=True, default=None)


class UploadApi(APIView):
    queryset = MediaAsset.objects.none()
    # The permission depends on the purpose; checked in the view.
    required_permissions = {"POST": []}

    @extend_schema(
        operation_id="uploads_create",
        request=UploadInputSerializer,
        responses={201: UploadOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        description=(
            "A presigned POST (signature v4) for uploading one file straight to S3: send a multipart "
            "form to `url` with `fields` and then the `file` field. The key, content type and size limit "
            "are fixed by the policy. Purpose `media` records a media asset; `orders-csv` drops an order "
            "CSV under incoming/orders/, which is imported when S3 reports it, as this client's import, "
            "with the `mode` and `strict` given here. 403 without the purpose's permission, or for mode "
            "`history` without orders.import_history."
        ),
    )
    def post(self, request: Request) -> Response:
        payload = UploadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        # An order CSV upload starts an import: it needs the permission to import.
        needed = "media.add_mediaasset" if data["purpose"] == "media" else "orders.add_import"
        if not request.user.has_perm(needed):
            return problem(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied", f"Needs {needed}.")
        try:
            ticket = services.upload_request(
                purpose=data["purpose"],
                filename=data["filename"],
                content_type=data["content_type"],
                size=data["size"],
                actor=request.user,
                mode=data.get("mode"),
                strict=data["strict"],
            )
        except services.UploadRefused as exc:
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {exc.field: [str(exc)]})
        except ImportForbidden as exc:
            return import_forbidden(exc)
        return Response(UploadOutputSerializer(ticket).data, status=status.HTTP_201_CREATED)


class MediaAssetOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key = serializers.CharField(help_text="The object's key in the stage's files bucket.")
    originalName = serializers.CharField(source="original_name")
    contentType = serializers.CharField(source="content_type")
    declaredSize = serializers.IntegerField(source="declared_size", allow_null=True)
    size = serializers.IntegerField(allow_null=True, help_text="Bytes, once processed.")
    checksumSha256 = serializers.CharField(source="checksum_sha256")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    hasThumbnail = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=MediaAsset.Status.choices)
    statusDetail = serializers.CharField(source="status_detail", help_text="Why it was rejected or failed.")
    uploadedBy = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    processedAt = serializers.DateTimeField(source="processed_at", allow_null=True)

    @extend_schema_field(serializers.BooleanField())
    def get_hasThumbnail(self, asset: MediaAsset) -> bool:
        return bool(asset.thumbnail)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_uploadedBy(self, asset: MediaAsset) -> str | None:
        return asset.uploaded_by.get_username() if asset.uploaded_by is not None else None


class MediaPreviewSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="A presigned GET of the file, shown inline; empty unless READY.")
    thumbnailUrl = serializers.CharField(source="thumbnail_url", help_text="A presigned GET of the thumbnail.")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)


class MediaAssetDetailSerializer(MediaAssetOutputSerializer):
    preview = serializers.SerializerMethodField()

    @extend_schema_field(MediaPreviewSerializer)
    def get_preview(self, asset: MediaAsset) -> dict:
        return MediaPreviewSerializer(selectors.media_asset_preview(asset=asset)).data


class MediaAssetListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MediaAsset.Status.choices, required=False)
    contentType = serializers.CharField(source="content_type", required=False, max_length=128)


class MediaAssetListApi(APIView):
    queryset = MediaAsset.objects.none()
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="media_list",
        parameters=[MediaAssetListFilterSerializer],
        responses={200: MediaAssetOutputSerializer(many=True), 400: PROBLEM, 403: PROBLEM},
        description="Media assets newest first: an API client's own uploads, every one for console staff.",
    )
    def get(self, request: Request) -> Response:
        filters = MediaAssetListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        assets = selectors.media_asset_list(user=request.user, filters=filters.validated_data)
        page = paginator.paginate_queryset(assets, request, self)
        return paginator.get_paginated_response(MediaAssetOutputSerializer(page, many=True).data)


class MediaAssetDetailApi(APIView):
    queryset = MediaAsset.objects.none()

    @extend_schema(
        operation_id="media_retrieve",
        responses={200: MediaAssetDetailSerializer, 404: PROBLEM},
        description="One media asset, with presigned links to its file and thumbnail (valid 10 minutes) once it "
        "is READY.",
    )
    def get(self, request: Request, asset_id: str) -> Response:
        try:
            asset = selectors.media_assets_visible_to(user=request.user).get(pk=uuid.UUID(asset_id))
        except (ValueError, MediaAsset.DoesNotExist):
            raise Http404("No media asset with this id.") from None
        return Response(MediaAssetDetailSerializer(asset).data)
