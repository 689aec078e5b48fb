"""REST endpoint for uploads (camelCase JSON, the project's problem shape for errors).

POST /api/uploads    a presigned POST form for one upload -> 201

A media asset is recorded awaiting its upload; an order CSV is recorded as the client's
upload for the orders app's import (``orders.imports``), which starts when S3 reports the
object. Order CSV imports themselves are the orders app's: ``orders.imports.apis``.
"""

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import BAD_INPUT, FORBIDDEN, extend_schema
from console.api.rest import problem
from media import services
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
