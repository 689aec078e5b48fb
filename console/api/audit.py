"""REST endpoint for the audit log: the console's audit log page, over REST.

GET /api/audit    entries newest first (cursor-paginated), filtered by object (objectType
                  and objectId), actor and action

Needs ``console.view_auditentry``: support staff and admins, as the console's page.
"""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.models import AuditEntry
from console.platform.audit import audit_entry_list


class AuditEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    actor = serializers.CharField(source="actor_name", help_text="The username; empty for the system.")
    source = serializers.ChoiceField(choices=AuditEntry.Source.choices)
    action = serializers.CharField()
    objectType = serializers.CharField(source="object_type", help_text="app.model, e.g. workflows.execution.")
    objectId = serializers.CharField(source="object_id")
    reason = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    requestId = serializers.CharField(source="request_id")
    awsRequestId = serializers.CharField(source="aws_request_id")


class AuditListFilterSerializer(serializers.Serializer):
    objectType = serializers.RegexField(
        r"^[a-z0-9_]+\.[a-z0-9_]+$",
        source="object_type",
        required=False,
        max_length=64,
        help_text="app.model, as the entries name it: orders.order, workflows.execution, ...",
    )
    objectId = serializers.CharField(
        source="object_id", required=False, max_length=64, help_text="With objectType: one object's entries."
    )
    actor = serializers.CharField(required=False, max_length=150, help_text="A username.")
    action = serializers.RegexField(
        r"^[A-Za-z0-9_.-]+$",
        required=False,
        max_length=64,
        help_text="An action (execution.restart), or every action under a prefix ending with a dot (execution.).",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs.get("object_id") and not attrs.get("object_type"):
            raise serializers.ValidationError({"objectId": ["Name the object's type too (objectType)."]})
        return attrs


class AuditEntryListApi(APIView):
    queryset = AuditEntry.objects.none()
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="audit_list",
        parameters=[AuditListFilterSerializer],
        responses={200: AuditEntryOutputSerializer(many=True), 400: PROBLEM, 403: PROBLEM},
        description="Audit entries newest first: every state change, who made it, from where (console, api, "
        "system), why, and the before and after.",
    )
    def get(self, request: Request) -> Response:
        filters = AuditListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(audit_entry_list(filters=filters.validated_data), request, self)
        return paginator.get_paginated_response(AuditEntryOutputSerializer(page, many=True).data)
