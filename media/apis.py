"""REST endpoints for uploads and order CSV imports (camelCase JSON, the project's problem
shape for errors).

POST /api/uploads                        a presigned POST form for one upload -> 201
GET  /api/imports                        imports, newest first (cursor-paginated)
POST /api/imports                        import an uploaded object now -> 201 (or 200: already imported)
GET  /api/imports/{id}                   one import: source, status, progress, counters
GET  /api/imports/{id}/rejected-rows.csv the rejected rows, as CSV
"""

import uuid

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from console import resources
from console.api import problem
from console.models import AuditEntry
from console.openapi import extend_schema
from media import s3, selectors, services
from media.models import Import, MediaAsset
from orders.apis import PROBLEM

# --- Uploads ---------------------------------------------------------------------------------


class UploadInputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=["media", "orders-csv"])
    filename = serializers.CharField(max_length=255)
    contentType = serializers.CharField(source="content_type", max_length=128)
    size = serializers.IntegerField(min_value=1)


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
        responses={201: UploadOutputSerializer, 400: PROBLEM, 403: PROBLEM},
        description=(
            "A presigned POST (signature v4) for uploading one file straight to S3: send a multipart "
            "form to `url` with `fields` and then the `file` field. The key, content type and size limit "
            "are fixed by the policy. Purpose `media` records a media asset; `orders-csv` drops an order "
            "CSV under incoming/orders/, which is imported when S3 reports it."
        ),
    )
    def post(self, request: Request) -> Response:
        payload = UploadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        needed = "media.add_mediaasset" if data["purpose"] == "media" else "media.add_import"
        if not request.user.has_perm(needed):
            return problem(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied", f"Needs {needed}.")
        try:
            ticket = services.upload_request(
                purpose=data["purpose"],
                filename=data["filename"],
                content_type=data["content_type"],
                size=data["size"],
                actor=request.user,
            )
        except services.UploadRefused as exc:
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {exc.field: [str(exc)]})
        return Response(UploadOutputSerializer(ticket).data, status=status.HTTP_201_CREATED)


# --- Imports ---------------------------------------------------------------------------------


class ImportSourceSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    key = serializers.CharField()
    version = serializers.CharField()
    etag = serializers.CharField()
    size = serializers.IntegerField()
    name = serializers.CharField(source="original_name")


class ImportProgressSerializer(serializers.Serializer):
    percent = serializers.IntegerField(source="progress_percent")
    phase = serializers.CharField()
    chunksDone = serializers.IntegerField(source="chunks_done")
    chunksTotal = serializers.IntegerField(source="chunks_total")
    bytesDone = serializers.IntegerField(source="bytes_done")
    bytesTotal = serializers.IntegerField(source="size")


class ImportOutputSerializer(serializers.Serializer):
    importId = serializers.UUIDField(source="id")
    source = ImportSourceSerializer(source="*")
    status = serializers.CharField()
    dryRun = serializers.BooleanField(source="dry_run")
    strict = serializers.BooleanField()
    mode = serializers.CharField()
    progress = ImportProgressSerializer(source="*")
    rowsTotal = serializers.IntegerField(source="rows_total")
    rowsIngested = serializers.IntegerField(
        source="rows_ingested", help_text="Rows imported (for a dry run: rows that would be imported)."
    )
    rowsRejected = serializers.IntegerField(source="rows_rejected")
    ordersCreated = serializers.IntegerField(
        source="orders_created", help_text="Orders imported (for a dry run: orders that would be imported)."
    )
    workflowsStarted = serializers.IntegerField(source="workflows_started")
    encoding = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
    rejectedRowsUrl = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    def get_rejectedRowsUrl(self, import_run: Import) -> str | None:  # noqa: N802 (camelCase field)
        if not import_run.rows_rejected:
            return None
        return reverse("import-rejected-rows", args=[import_run.pk], request=self.context.get("request"))


class ImportDetailSerializer(ImportOutputSerializer):
    preview = serializers.ListField(child=serializers.DictField(), help_text="The first rows as they were read.")


class ImportCreateInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=1024, help_text="The object's key in the files bucket.")
    strict = serializers.BooleanField(default=False)
    dryRun = serializers.BooleanField(source="dry_run", default=False)
    mode = serializers.ChoiceField(choices=Import.Mode.choices, required=False)

    def validate_key(self, key: str) -> str:
        if not key.startswith((services.CSV_PREFIX, services.DRY_RUN_PREFIX)):
            raise serializers.ValidationError(
                f"Only objects under {services.CSV_PREFIX} or {services.DRY_RUN_PREFIX} can be imported."
            )
        return key


class ImportListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Import.Status.choices, required=False)
    key = serializers.CharField(required=False, max_length=1024)


class ImportCursorPagination(CursorPagination):
    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


def _import_or_404(import_id: str) -> Import:
    try:
        return selectors.import_get(import_id=uuid.UUID(import_id))
    except (ValueError, Import.DoesNotExist):
        raise Http404("No import with this id.") from None


class ImportListCreateApi(APIView):
    queryset = Import.objects.none()

    @extend_schema(
        operation_id="imports_list",
        parameters=[ImportListFilterSerializer, OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: ImportOutputSerializer(many=True), 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = ImportListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = ImportCursorPagination()
        page = paginator.paginate_queryset(selectors.import_list(filters=filters.validated_data), request, self)
        return paginator.get_paginated_response(
            ImportOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="imports_create",
        request=ImportCreateInputSerializer,
        responses={201: ImportDetailSerializer, 200: ImportDetailSerializer, 400: PROBLEM},
        description="Import an object already in the files bucket. The same object version again "
        "answers 200 with the import it already has.",
    )
    def post(self, request: Request) -> Response:
        payload = ImportCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            info = s3.head(bucket=resources.files_bucket(), key=data["key"])
        except s3.ObjectMissing:
            message = "No object with this key in the files bucket."
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", message, {"key": [message]})
        existing = (
            not data["dry_run"]
            and Import.objects.filter(bucket=info.bucket, key=info.key, version=info.version, dry_run=False).exists()
        )
        import_run = services.csv_import_object(
            info=info,
            actor=request.user,
            source=AuditEntry.Source.API,
            strict=data["strict"],
            dry_run=data["dry_run"],
            mode=data.get("mode"),
        )
        return Response(
            ImportDetailSerializer(import_run, context={"request": request}).data,
            status=status.HTTP_200_OK if existing else status.HTTP_201_CREATED,
        )


class ImportDetailApi(APIView):
    queryset = Import.objects.none()

    @extend_schema(operation_id="imports_retrieve", responses={200: ImportDetailSerializer, 404: PROBLEM})
    def get(self, request: Request, import_id: str) -> Response:
        import_run = _import_or_404(import_id)
        return Response(ImportDetailSerializer(import_run, context={"request": request}).data)


class ImportRejectedRowsApi(APIView):
    queryset = Import.objects.none()

    @extend_schema(
        operation_id="imports_rejected_rows",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="line, column, reason, then the row"),
            404: PROBLEM,
        },
    )
    def get(self, request: Request, import_id: str):
        import_run = _import_or_404(import_id)
        return rejected_rows_response(import_run)


def rejected_rows_response(import_run: Import) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        selectors.rejected_rows_csv(import_run=import_run), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="rejected-rows-{import_run.pk}.csv"'
    return response
