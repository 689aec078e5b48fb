"""REST endpoints for alarms: the list (optionally synced with CloudWatch first), each
alarm's history, and mute, unmute, acknowledge and assign."""

from django.contrib.auth import get_user_model
from django.http import Http404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.rest import problem
from console.models import AuditEntry
from ops import alarms, selectors
from ops.apis.common import conflict, ops_problem
from ops.errors import OpsError
from ops.models import Alarm, AlarmEvent


class AlarmSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField(source="state_reason")
    stateChangedAt = serializers.DateTimeField(source="state_changed_at", allow_null=True)
    description = serializers.CharField()
    namespace = serializers.CharField()
    metric = serializers.CharField(source="metric_name")
    dimensions = serializers.JSONField()
    statistic = serializers.CharField()
    comparison = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    period = serializers.IntegerField(allow_null=True)
    evaluationPeriods = serializers.IntegerField(source="evaluation_periods", allow_null=True)
    actionsEnabled = serializers.BooleanField(source="actions_enabled")
    exists = serializers.BooleanField()
    mutedUntil = serializers.DateTimeField(source="muted_until", allow_null=True)
    muteReason = serializers.CharField(source="mute_reason")
    acknowledgedBy = serializers.CharField(source="acknowledged_by", allow_null=True)
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", allow_null=True)
    owner = serializers.CharField(allow_null=True)
    deadLetterQueue = serializers.SerializerMethodField()

    def get_deadLetterQueue(self, alarm: Alarm) -> str:  # noqa: N802 (the API is camelCase)
        return selectors.alarm_dead_letter_queue(alarm)


class AlarmEventSerializer(serializers.Serializer):
    state = serializers.CharField()
    previousState = serializers.CharField(source="previous_state")
    reason = serializers.CharField()
    reasonData = serializers.JSONField(source="reason_data")
    occurredAt = serializers.DateTimeField(source="occurred_at")
    source = serializers.CharField()


class AlarmHistoryFilterSerializer(serializers.Serializer):
    fill = serializers.BooleanField(
        required=False, default=False, help_text="add what CloudWatch's DescribeAlarmHistory kept"
    )


class AlarmFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Alarm.State.values, required=False)
    refresh = serializers.BooleanField(required=False, default=False)
    includeDeleted = serializers.BooleanField(required=False, default=False)


class AlarmMuteInputSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    reason = serializers.CharField(max_length=2000)


class AlarmAcknowledgeInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AlarmAssignInputSerializer(serializers.Serializer):
    owner = serializers.CharField(allow_blank=True, help_text="a staff username; '' to clear")


# --- Alarms ---------------------------------------------------------------------------------


def _alarm_or_404(name: str) -> Alarm:
    try:
        return Alarm.objects.select_related("owner", "acknowledged_by").get(name=name)
    except Alarm.DoesNotExist:
        raise Http404("No alarm with this name.") from None


class AlarmListApi(APIView):
    queryset = Alarm.objects.none()

    @extend_schema(
        operation_id="alarms_list",
        parameters=[AlarmFilterSerializer],
        responses={200: AlarmSerializer(many=True), 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = AlarmFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["refresh"]:
            alarms.alarms_sync()
        found = selectors.alarm_list(
            state=filters.validated_data.get("state"), include_deleted=filters.validated_data["includeDeleted"]
        )
        return Response(AlarmSerializer(found, many=True).data)


class AlarmHistoryApi(APIView):
    queryset = Alarm.objects.none()

    @extend_schema(
        operation_id="alarms_history",
        parameters=[AlarmHistoryFilterSerializer],
        responses={200: AlarmEventSerializer(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, name: str) -> Response:
        if not AlarmEvent.objects.filter(alarm_name=name).exists():
            _alarm_or_404(name)
        filters = AlarmHistoryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["fill"]:
            alarms.alarm_history_fill(name=name)
        return Response(AlarmEventSerializer(selectors.alarm_history(name=name), many=True).data)


class AlarmMuteApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_mute",
        request=AlarmMuteInputSerializer,
        responses={200: AlarmSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmMuteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            alarm = alarms.alarm_mute(
                name=name, actor=request.user, source=AuditEntry.Source.API, **payload.validated_data
            )
        except OpsError as exc:
            return ops_problem(exc)
        return Response(AlarmSerializer(alarm).data)


class AlarmUnmuteApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(operation_id="alarms_unmute", request=None, responses={200: AlarmSerializer, 404: PROBLEM})
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        return Response(
            AlarmSerializer(alarms.alarm_unmute(name=name, actor=request.user, source=AuditEntry.Source.API)).data
        )


class AlarmAcknowledgeApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_acknowledge",
        request=AlarmAcknowledgeInputSerializer,
        responses={200: AlarmSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmAcknowledgeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            alarm = alarms.alarm_acknowledge(
                name=name, actor=request.user, note=payload.validated_data["note"], source=AuditEntry.Source.API
            )
        except OpsError as exc:
            return conflict(exc)
        return Response(AlarmSerializer(alarm).data)


class AlarmAssignApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_assign",
        request=AlarmAssignInputSerializer,
        responses={200: AlarmSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmAssignInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        username = payload.validated_data["owner"].strip()
        owner = None
        if username:
            owner = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
            if owner is None:
                return problem(
                    status.HTTP_400_BAD_REQUEST,
                    "Invalid input.",
                    "invalid",
                    "No active staff user with this name.",
                    {"owner": ["No active staff user with this name."]},
                )
        alarm = alarms.alarm_assign(name=name, owner=owner, actor=request.user, source=AuditEntry.Source.API)
        return Response(AlarmSerializer(alarm).data)
