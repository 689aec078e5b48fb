"""REST endpoints for approvals: the inbox and the same decisions as the console.

GET  /api/approvals                      pending approvals, oldest first (cursor-paginated)
GET  /api/approvals/{id}                 one approval
POST /api/approvals/{id}/approve         {"note": "..."}   -> 200 (or 202: recorded, delivery retried)
POST /api/approvals/{id}/reject          {"reason": "..."} -> 200; 400 without a reason
POST /api/approvals/{id}/claim | unclaim                   -> 200
POST /api/approvals/{id}/assign          {"username": "..."} -> 200

Reads need ``workflows.view_approval``; every POST needs ``workflows.decide_approval``.
An approval that cannot take the decision (already decided, expired, claimed by a
colleague, four-eyes second approver needed) answers 409 with a plain ``detail``.
"""

import logging

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from console.models import AuditEntry
from workflows import approvals, selectors
from workflows.models import Approval

logger = logging.getLogger(__name__)


class ApprovalVoteSerializer(serializers.Serializer):
    by = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField()


class ApprovalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    orderId = serializers.UUIDField(source="order_id")
    userId = serializers.CharField(source="order.user_id")
    total = serializers.DecimalField(source="order.total", max_digits=14, decimal_places=2, coerce_to_string=False)
    items = serializers.SerializerMethodField()
    status = serializers.CharField()
    statusText = serializers.CharField(source="get_status_display")
    stateName = serializers.CharField(source="state_name")
    requestedAt = serializers.DateTimeField(source="requested_at")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    requiredApprovals = serializers.IntegerField(source="required_approvals")
    approvals = serializers.SerializerMethodField()
    claimedBy = serializers.SerializerMethodField()
    claimedAt = serializers.DateTimeField(source="claimed_at", allow_null=True)
    decidedBy = serializers.SerializerMethodField()
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    reason = serializers.CharField()
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    outcomeDetail = serializers.CharField(source="outcome_detail")

    @extend_schema_field(serializers.CharField())
    def get_items(self, approval: Approval) -> str:
        return selectors.items_summary(list(approval.order.items.all()), limit=10)

    @extend_schema_field(ApprovalVoteSerializer(many=True))
    def get_approvals(self, approval: Approval) -> list[dict]:
        votes = []
        if approval.first_approved_by_id:
            votes.append(
                {"by": _name(approval.first_approved_by), "at": approval.first_approved_at, "note": approval.first_note}
            )
        if approval.status == Approval.Status.APPROVED:
            votes.append({"by": _name(approval.decided_by), "at": approval.decided_at, "note": approval.reason})
        return ApprovalVoteSerializer(votes, many=True).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_claimedBy(self, approval: Approval) -> str | None:
        return _name(approval.claimed_by)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decidedBy(self, approval: Approval) -> str | None:
        return _name(approval.decided_by)


def _name(user) -> str | None:
    return user.get_username() if user is not None else None


class ApprovalListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[*Approval.Status.values, "all"], required=False)
    orderId = serializers.CharField(source="order_id", required=False, max_length=64)
    claimed = serializers.ChoiceField(choices=["me", "unclaimed", "others"], required=False)
    fourEyes = serializers.BooleanField(source="four_eyes", required=False, allow_null=True, default=None)


class ApprovalPagination(KeysetPagination):
    """Oldest first (selectors.approval_list orders by request time, then id)."""

    default_ordering = "requested_at"


class ApproveInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class AssignInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


def _approval_or_404(approval_id: int) -> Approval:
    approval = selectors.approval_list(filters={"status": "all"}).filter(pk=approval_id).first()
    if approval is None:
        raise Http404("No approval with this id.")
    return approval


def _conflict(exc: Exception) -> Response:
    return problem(status.HTTP_409_CONFLICT, "Conflict.", "not_pending", str(exc))


def _output(approval_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(ApprovalOutputSerializer(_approval_or_404(approval_id)).data, status=code)


APPROVAL_ERRORS = {400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM}
DECIDE = ["workflows.decide_approval"]


class ApprovalListApi(APIView):
    queryset = Approval.objects.none()
    # Paged by hand below; named here so the schema documents the page and its parameters.
    pagination_class = ApprovalPagination

    @extend_schema(
        operation_id="approvals_list",
        parameters=[ApprovalListFilterSerializer],
        responses={200: ApprovalOutputSerializer(many=True), 400: PROBLEM, 403: PROBLEM},
        description="Approvals oldest first; pending ones unless `status` says otherwise.",
    )
    def get(self, request: Request) -> Response:
        filters = ApprovalListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        listed = selectors.approval_list(filters=filters.validated_data, user=request.user)
        page = paginator.paginate_queryset(listed, request, self)
        return paginator.get_paginated_response(ApprovalOutputSerializer(page, many=True).data)


class ApprovalDetailApi(APIView):
    queryset = Approval.objects.none()

    @extend_schema(operation_id="approvals_retrieve", responses={200: ApprovalOutputSerializer, 404: PROBLEM})
    def get(self, request: Request, approval_id: int) -> Response:
        return _output(approval_id)


class ApprovalApproveApi(APIView):
    queryset = Approval.objects.none()
    required_permissions = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_approve",
        request=ApproveInputSerializer,
        responses={
            200: ApprovalOutputSerializer,
            202: OpenApiResponse(ApprovalOutputSerializer, description="Recorded; delivery to the workflow retried"),
            **APPROVAL_ERRORS,
        },
        description="Approves (a four-eyes order stays PENDING after the first of its two approvals).",
    )
    def post(self, request: Request, approval_id: int) -> Response:
        approval = _approval_or_404(approval_id)
        payload = ApproveInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _decide(request, approval, approve=True, reason=payload.validated_data["note"])


class ApprovalRejectApi(APIView):
    queryset = Approval.objects.none()
    required_permissions = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_reject",
        request=RejectInputSerializer,
        responses={
            200: ApprovalOutputSerializer,
            202: OpenApiResponse(ApprovalOutputSerializer, description="Recorded; delivery to the workflow retried"),
            **APPROVAL_ERRORS,
        },
    )
    def post(self, request: Request, approval_id: int) -> Response:
        approval = _approval_or_404(approval_id)
        payload = RejectInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _decide(request, approval, approve=False, reason=payload.validated_data["reason"])


def _decide(request: Request, approval: Approval, *, approve: bool, reason: str) -> Response:
    try:
        approvals.approval_decide(
            approval_id=approval.pk, approve=approve, actor=request.user, reason=reason, source=AuditEntry.Source.API
        )
    except approvals.ReasonRequired as exc:
        return problem(400, "Invalid input.", "invalid", str(exc), {"reason": [str(exc)]})
    except approvals.ApprovalNotPending as exc:
        return _conflict(exc)
    except Exception:
        logger.exception("decision on approval %s recorded but not delivered", approval.pk)
        return _output(approval.pk, status.HTTP_202_ACCEPTED)
    return _output(approval.pk)


class ApprovalClaimApi(APIView):
    queryset = Approval.objects.none()
    required_permissions = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_claim", request=None, responses={200: ApprovalOutputSerializer, **APPROVAL_ERRORS}
    )
    def post(self, request: Request, approval_id: int) -> Response:
        approval = _approval_or_404(approval_id)
        try:
            approvals.approval_claim(approval_id=approval.pk, actor=request.user, source=AuditEntry.Source.API)
        except approvals.ApprovalNotPending as exc:
            return _conflict(exc)
        return _output(approval.pk)


class ApprovalUnclaimApi(APIView):
    queryset = Approval.objects.none()
    required_permissions = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_unclaim", request=None, responses={200: ApprovalOutputSerializer, **APPROVAL_ERRORS}
    )
    def post(self, request: Request, approval_id: int) -> Response:
        approval = _approval_or_404(approval_id)
        try:
            approvals.approval_unclaim(approval_id=approval.pk, actor=request.user, source=AuditEntry.Source.API)
        except approvals.ApprovalNotPending as exc:
            return _conflict(exc)
        return _output(approval.pk)


class ApprovalAssignApi(APIView):
    queryset = Approval.objects.none()
    required_permissions = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_assign",
        request=AssignInputSerializer,
        responses={200: ApprovalOutputSerializer, **APPROVAL_ERRORS},
    )
    def post(self, request: Request, approval_id: int) -> Response:
        approval = _approval_or_404(approval_id)
        payload = AssignInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignee = get_user_model().objects.filter(username=payload.validated_data["username"]).first()
        if assignee is None:
            detail = "No such user."
            return problem(400, "Invalid input.", "invalid", detail, {"username": [detail]})
        try:
            approvals.approval_assign(
                approval_id=approval.pk, assignee=assignee, actor=request.user, source=AuditEntry.Source.API
            )
        except approvals.AssigneeNotAllowed as exc:
            return problem(400, "Invalid input.", "invalid", str(exc), {"username": [str(exc)]})
        except approvals.ApprovalNotPending as exc:
            return _conflict(exc)
        return _output(approval.pk)
