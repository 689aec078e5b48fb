"""REST endpoints for workflow executions and the order saga: what the console's executions
pages show and do.

GET  /api/executions                  executions, newest first (cursor-paginated; status, stateMachine, orderId)
GET  /api/executions/{id}             one execution, with its steps, restarts and Step Functions' history
POST /api/executions/{id}/restart     {"reason": "..."} -> 200, the execution now running
POST /api/executions/{id}/stop        {"reason": "..."} -> 200; 400 without a reason
POST /api/sagas                       {"orderId": "...", "failAt": "..."} -> 201, the saga's execution

Reads need ``workflows.view_execution``; a restart ``workflows.restart_execution``, a stop
``workflows.stop_execution`` (the console's permissions), a saga ``workflows.start_saga``.
Each change is the console's own service (``workflows.restarts``, ``workflows.stops``,
``workflows.saga``), audited with source ``api``. What the engine refuses (an execution
not failed, already stopped, an express workflow) is a 409 with a plain ``detail``; Step
Functions throttling or failing is a 503 with ``Retry-After``, nothing changed.
"""

import logging
from typing import Any

from botocore.exceptions import ClientError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import aws_error_code, problem
from console.models import AuditEntry
from orders.models import Order
from workflows import saga, selectors, sfn
from workflows.models import Execution
from workflows.restarts import RESTARTABLE_STATUSES, ExecutionNotRestartable, execution_restart
from workflows.stops import ExecutionNotStoppable, execution_can_stop, execution_stop

logger = logging.getLogger(__name__)


class ExecutionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    arn = serializers.CharField(help_text="Empty until Step Functions started it.")
    orderId = serializers.UUIDField(source="order_id")
    stateMachine = serializers.CharField(source="state_machine")
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    currentState = serializers.CharField(source="current_state")
    error = serializers.CharField()
    cause = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    stoppedAt = serializers.DateTimeField(source="stopped_at", allow_null=True)
    restartedFrom = serializers.IntegerField(
        source="restarted_from_id", allow_null=True, help_text="The execution this one restarted."
    )
    restartMethod = serializers.CharField(source="restart_method", help_text="resume, new-execution or redrive.")
    resumedAt = serializers.CharField(source="resumed_at", help_text="The state a restart resumed at.")
    redriveCount = serializers.IntegerField(source="redrive_count")
    stopRequestedAt = serializers.DateTimeField(source="stop_requested_at", allow_null=True)
    stopReason = serializers.CharField(source="stop_reason")
    restartable = serializers.SerializerMethodField()
    stoppable = serializers.SerializerMethodField()

    @extend_schema_field(serializers.BooleanField(help_text="Failed, timed out or aborted: POST .../restart."))
    def get_restartable(self, execution: Execution) -> bool:
        return execution.status in RESTARTABLE_STATUSES

    @extend_schema_field(serializers.BooleanField(help_text="Running, standard, not yet asked to stop."))
    def get_stoppable(self, execution: Execution) -> bool:
        return execution_can_stop(execution)


class StepRunOutputSerializer(serializers.Serializer):
    step = serializers.CharField()
    status = serializers.CharField()
    output = serializers.JSONField(allow_null=True)
    error = serializers.CharField()
    cause = serializers.CharField()
    startedAt = serializers.DateTimeField(source="started_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class StateVisitSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["succeeded", "failed", "timed out", "running"])
    enteredAt = serializers.DateTimeField(source="entered_at")
    exitedAt = serializers.DateTimeField(source="exited_at", allow_null=True)
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    cause = serializers.CharField()
    input = serializers.CharField(help_text="JSON text, secrets redacted.")
    output = serializers.CharField(help_text="JSON text, secrets redacted.")


class ExecutionHistorySerializer(serializers.Serializer):
    outcome = serializers.CharField()
    error = serializers.CharField()
    cause = serializers.CharField()
    input = serializers.CharField()
    output = serializers.CharField()
    events = serializers.IntegerField(help_text="GetExecutionHistory's events read (at most 2,000).")
    states = StateVisitSerializer(source="visits", many=True)


class ExecutionDetailSerializer(ExecutionOutputSerializer):
    steps = StepRunOutputSerializer(many=True, help_text="The callback tasks our handlers answered, in order.")
    restarts = ExecutionOutputSerializer(many=True, help_text="Executions that restarted this one.")
    history = serializers.SerializerMethodField()
    historyError = serializers.SerializerMethodField()

    @extend_schema_field(ExecutionHistorySerializer(allow_null=True))
    def get_history(self, execution: Execution) -> dict[str, Any] | None:
        history = self.context.get("history")
        return ExecutionHistorySerializer(history).data if history is not None else None

    @extend_schema_field(serializers.CharField(help_text="Why Step Functions' history is missing, if it is."))
    def get_historyError(self, execution: Execution) -> str:
        return self.context.get("history_error", "")


class ExecutionListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Execution.Status.choices, required=False)
    stateMachine = serializers.CharField(
        source="state_machine", required=False, max_length=80, help_text="order-processing or order-saga."
    )
    orderId = serializers.CharField(
        source="order_id", required=False, max_length=64, help_text="An order id, or its first characters."
    )


class RestartInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class StopInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Kept with the order, which fails with it.")


class SagaStartInputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="order_id")
    failAt = serializers.ChoiceField(
        source="fail_at",
        choices=saga.FORWARD_STEPS,
        required=False,
        allow_null=True,
        default=None,
        help_text="A failure drill: this step fails, to run the compensations. Only where SAGA_FAILURE_DRILLS "
        "is on (a 400 elsewhere).",
    )


CHANGE_ERRORS = {400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 503: PROBLEM}


def _execution_or_404(execution_id: int) -> Execution:
    execution = Execution.objects.select_related("order").filter(pk=execution_id).first()
    if execution is None:
        raise Http404("No execution with this id.")
    return execution


def _conflict(exc: Exception, code: str) -> Response:
    return problem(status.HTTP_409_CONFLICT, "Conflict.", code, str(exc))


def _not_in_engine(exc: Exception) -> Response:
    """Step Functions knows no execution by our record's ARN (gone after its retention, or
    never started there): nothing to stop or restart."""
    return problem(
        status.HTTP_409_CONFLICT,
        "Conflict.",
        "not_in_engine",
        f"Step Functions has no such execution ({exc}); nothing changed.",
    )


def _unavailable(exc: sfn.StepFunctionsUnavailable) -> Response:
    return problem(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Service Unavailable.",
        exc.aws_code or "unavailable",
        str(exc),
        headers={"Retry-After": "30"},
    )


def _engine_change(
    change, *, refused: type[Exception], code: str, not_found: tuple[type[Exception], ...] = ()
) -> Response:
    """Run a stop or restart (``change``, answering the execution now running or stopped) and
    answer it: the service's refusal is a 409 ``code``; an execution the engine does not know
    (``not_found``, or AWS's ExecutionDoesNotExist raised untranslated, e.g. by the refresh
    before a stop) a 409 ``not_in_engine``; Step Functions unavailable a 503."""
    try:
        execution = change()
    except refused as exc:
        return _conflict(exc, code)
    except not_found as exc:
        return _not_in_engine(exc)
    except ClientError as exc:
        if aws_error_code(exc) != "ExecutionDoesNotExist":
            raise
        return _not_in_engine(exc)
    except sfn.StepFunctionsUnavailable as exc:
        return _unavailable(exc)
    return _output(execution.pk)


def _output(execution_id: int, code: int = status.HTTP_200_OK, headers: dict | None = None) -> Response:
    return Response(ExecutionOutputSerializer(_execution_or_404(execution_id)).data, status=code, headers=headers)


class ExecutionListApi(APIView):
    queryset = Execution.objects.none()
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="executions_list",
        parameters=[ExecutionListFilterSerializer],
        responses={200: ExecutionOutputSerializer(many=True), 400: PROBLEM, 403: PROBLEM},
        description="Executions newest first, as recorded (GET one for Step Functions' history).",
    )
    def get(self, request: Request) -> Response:
        filters = ExecutionListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.execution_list(filters=filters.validated_data), request, self)
        return paginator.get_paginated_response(ExecutionOutputSerializer(page, many=True).data)


class ExecutionDetailApi(APIView):
    queryset = Execution.objects.none()

    @extend_schema(
        operation_id="executions_retrieve",
        responses={200: ExecutionDetailSerializer, 404: PROBLEM},
        description="The execution as recorded, its steps and restarts, and the states it passed as Step "
        "Functions' GetExecutionHistory tells them (`history`; null with `historyError` when Step Functions "
        "cannot be read: the rest still answers).",
    )
    def get(self, request: Request, execution_id: int) -> Response:
        execution = _execution_or_404(execution_id)
        history, history_error = None, ""
        if execution.arn:
            try:
                history = selectors.execution_history(execution_arn=execution.arn)
            except Exception as exc:  # what we recorded still answers
                logger.warning("could not read the history of %s: %s", execution.name, exc)
                history_error = f"{type(exc).__name__}: {exc}"
        execution = Execution.objects.prefetch_related("steps", "restarts").select_related("order").get(pk=execution.pk)
        context = {"history": history, "history_error": history_error}
        return Response(ExecutionDetailSerializer(execution, context=context).data)


class ExecutionRestartApi(APIView):
    queryset = Execution.objects.none()
    required_permissions = {"POST": ["workflows.restart_execution"]}

    @extend_schema(
        operation_id="executions_restart",
        request=RestartInputSerializer,
        responses={200: ExecutionOutputSerializer, **CHANGE_ERRORS},
        description="Restarts a failed, timed out or aborted execution from the step that failed, as the "
        "console's Restart button does; answers the execution now running (a new one, `restartedFrom` this "
        "one, unless AWS redrove this one). 409 when it cannot be restarted (running, succeeded, its order "
        "not FAILED, a restart already running).",
    )
    def post(self, request: Request, execution_id: int) -> Response:
        execution = _execution_or_404(execution_id)
        payload = RestartInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _engine_change(
            lambda: execution_restart(
                execution_id=execution.pk,
                actor=request.user,
                reason=payload.validated_data["reason"],
                source=AuditEntry.Source.API,
            ),
            refused=ExecutionNotRestartable,
            code="not_restartable",
        )


class ExecutionStopApi(APIView):
    queryset = Execution.objects.none()
    required_permissions = {"POST": ["workflows.stop_execution"]}

    @extend_schema(
        operation_id="executions_stop",
        request=StopInputSerializer,
        responses={200: ExecutionOutputSerializer, **CHANGE_ERRORS},
        description="Stops a running execution with a reason (required), as the console's Stop page does; "
        "an order-processing execution's order fails with it. Answers the execution: ABORTED where the engine "
        "ended it at once, else RUNNING with `stopRequestedAt` set (the local engine ends it once its open "
        "task is answered). 409 when it cannot be stopped (not running, express, already asked to stop).",
    )
    def post(self, request: Request, execution_id: int) -> Response:
        execution = _execution_or_404(execution_id)
        payload = StopInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _engine_change(
            lambda: execution_stop(
                execution_id=execution.pk,
                actor=request.user,
                reason=payload.validated_data["reason"],
                source=AuditEntry.Source.API,
            ),
            refused=ExecutionNotStoppable,
            code="not_stoppable",
            not_found=(sfn.ExecutionNotFound,),
        )


class SagaStartApi(APIView):
    queryset = Execution.objects.none()
    required_permissions = {"POST": ["workflows.start_saga"]}  # as the order page's button

    @extend_schema(
        operation_id="sagas_create",
        request=SagaStartInputSerializer,
        responses={201: ExecutionOutputSerializer, 400: PROBLEM, 403: PROBLEM},
        description="Starts the order saga (reserve inventory, take payment, confirm; compensated in reverse "
        "order on a failure) for an order; answers its execution, which GET /api/executions/{id} follows. "
        "`failAt` runs a failure drill where SAGA_FAILURE_DRILLS is on.",
    )
    def post(self, request: Request) -> Response:
        payload = SagaStartInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if not Order.objects.filter(pk=data["order_id"]).exists():
            detail = "No order with this id."
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", detail, {"orderId": [detail]})
        try:
            execution = saga.saga_start(
                order_id=data["order_id"], actor=request.user, fail_at=data["fail_at"], source=AuditEntry.Source.API
            )
        except saga.DrillsDisabled as exc:
            return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {"failAt": [str(exc)]})
        location = f"{request.path.rsplit('/api/', 1)[0]}/api/executions/{execution.pk}"
        return _output(execution.pk, status.HTTP_201_CREATED, headers={"Location": location})
