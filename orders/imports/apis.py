"""REST endpoints for order CSV imports (camelCase JSON, the project's problem shape for
errors).

GET  /api/imports                        imports, newest first (cursor-paginated)
POST /api/imports                        import an uploaded object now -> 201 (or 200: already imported)
GET  /api/imports/{id}                   one import: source, status, progress, counters
GET  /api/imports/{id}/rejected-rows.csv the rejected rows, as CSV

A client sees and imports only its own uploads and imports, unless it may see all
(``orders.imports.selectors``); someone else's import answers 404, like one that does not
exist. Uploads (``POST /api/uploads``) are the media app's.
"""

import uuid

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from console.api.openapi import BAD_INPUT, FORBIDDEN, PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from console.aws import resources, s3
from console.models import AuditEntry
from orders.imports import selectors, services
from orders.imports.models import Import
from orders.imports.options import ImportForbidden, ImportOptionsConflict, ImportRefused, import_options_check

NOT_FOUND = OpenApiResponse(
    PROBLEM.response, description="No such import, or one this client may not see (another client's)."
)


@extend_schema_field(
    {
        "type": "string",
        "enum": Import.Mode.values,
        "description": "`workflow`: orders are CREATED and start the "
        "order workflow; `history`: imported as already decided (needs orders.import_history).",
    },
    component_name="ImportMode",
)
class ImportModeField(serializers.ChoiceField):
    """An import's mode. One schema component for every route that takes it: an enum
    component per serializer would collide with other apps' ``mode`` enums."""

    def __init__(self, **kwargs):
        super().__init__(choices=Import.Mode.choices, **kwargs)


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
    key = serializers.CharField(
        max_length=1024, help_text="The object's key in the files bucket: one this client uploaded."
    )
    strict = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Import nothing if a row is rejected (default: what the upload chose, else false).",
    )
    dryRun = serializers.BooleanField(source="dry_run", default=False)
    mode = ImportModeField(
        required=False,
        help_text="Default: what the upload chose, else CSV_IMPORT_MODE. `history` needs orders.import_history.",
    )

    def validate_key(self, key: str) -> str:
        if not key.startswith((services.CSV_PREFIX, services.DRY_RUN_PREFIX)):
            raise serializers.ValidationError(
                f"Only objects under {services.CSV_PREFIX} or {services.DRY_RUN_PREFIX} can be imported."
            )
        return key


class ImportListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Import.Status.choices, required=False)
    key = serializers.CharField(required=False, max_length=1024)


class ImportPagination(KeysetPagination):
    """Newest first (selectors.import_list orders by creation time, then id)."""

    default_ordering = "-created_at"


def _import_or_404(request: Request, import_id: str) -> Import:
    try:
        return selectors.import_get(user=request.user, import_id=uuid.UUID(import_id))
    except (ValueError, Import.DoesNotExist):
        raise Http404("No import with this id.") from None


def import_forbidden(exc: ImportRefused) -> Response:
    """The 403 of an import request refused for a missing permission, naming the field."""
    return problem(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied", str(exc), {exc.field: [str(exc)]})


class ImportListCreateApi(APIView):
    queryset = Import.objects.none()
    pagination_class = ImportPagination

    @extend_schema(
        operation_id="imports_list",
        parameters=[ImportListFilterSerializer],
        responses={200: ImportOutputSerializer(many=True), 400: BAD_INPUT, 403: FORBIDDEN},
        description="This client's imports (every client's with orders.view_all_imports), newest first.",
    )
    def get(self, request: Request) -> Response:
        filters = ImportListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        imports = selectors.import_list(user=request.user, filters=filters.validated_data)
        page = paginator.paginate_queryset(imports, request, self)
        return paginator.get_paginated_response(
            ImportOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="imports_create",
        request=ImportCreateInputSerializer,
        responses={
            201: ImportDetailSerializer,
            200: ImportDetailSerializer,
            400: BAD_INPUT,
            403: FORBIDDEN,
            409: OpenApiResponse(
                PROBLEM.response,
                description="The object's import exists with another mode or strictness, which can no longer "
                "change (chosen with the upload or an earlier request, or the import has started).",
            ),
        },
        description="Import an object already in the files bucket: one this client uploaded (any, with "
        "orders.view_all_imports). The same object version again answers 200 with the import it already has, "
        "whether the S3 event or a request created it; options it names may still replace the defaults the "
        "S3 event took while the import waits to start, and are a 409 after. 403 for someone else's object, "
        "or for mode `history` without orders.import_history.",
    )
    def post(self, request: Request) -> Response:
        payload = ImportCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            import_options_check(mode=data.get("mode"), actor=request.user)
        except ImportForbidden as exc:
            return import_forbidden(exc)
        if not selectors.import_object_allowed(user=request.user, key=data["key"]):
            message = "This client may import only objects it uploaded (POST /api/uploads)."
            return problem(status.HTTP_403_FORBIDDEN, "Forbidden.", "permission_denied", message, {"key": [message]})
        try:
            info = s3.head(bucket=resources.files_bucket(), key=data["key"])
        except s3.ObjectMissing:
            message = "No object with this key in the files bucket."
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", message, {"key": [message]})
        try:
            import_run, created = services.csv_import_get_or_create(
                info=info,
                actor=request.user,
                source=AuditEntry.Source.API,
                strict=data["strict"],
                dry_run=data["dry_run"],
                mode=data.get("mode"),
            )
        except ImportForbidden as exc:
            return import_forbidden(exc)
        except ImportOptionsConflict as exc:
            return problem(status.HTTP_409_CONFLICT, "Conflict.", "conflict", str(exc), {exc.field: [str(exc)]})
        return Response(
            ImportDetailSerializer(import_run, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ImportDetailApi(APIView):
    queryset = Import.objects.none()

    @extend_schema(
        operation_id="imports_retrieve", responses={200: ImportDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND}
    )
    def get(self, request: Request, import_id: str) -> Response:
        import_run = _import_or_404(request, import_id)
        return Response(ImportDetailSerializer(import_run, context={"request": request}).data)


class ImportRejectedRowsApi(APIView):
    queryset = Import.objects.none()

    @extend_schema(
        operation_id="imports_rejected_rows",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="line, column, reason, then the row"),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def get(self, request: Request, import_id: str):
        import_run = _import_or_404(request, import_id)
        return rejected_rows_response(import_run)


def rejected_rows_response(import_run: Import) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        selectors.rejected_rows_csv(import_run=import_run), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="rejected-rows-{import_run.pk}.csv"'
    return response
