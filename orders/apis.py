"""REST endpoints for orders, with the seed's contract (camelCase JSON, amounts as numbers).

GET    /api/orders               list (cursor-paginated; ?status=, ?userId=)
POST   /api/orders               create -> 201
GET    /api/orders/{id}          one order
PUT    /api/orders/{id}/status   change status (statuses clients own) -> 200
DELETE /api/orders/{id}          cancel -> 204
"""

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api import problem
from orders import selectors, services
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order

MAX_ITEMS = 500


class OrderItemSerializer(serializers.Serializer):
    productId = serializers.CharField(source="product_id", max_length=128)
    name = serializers.CharField(max_length=255)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, coerce_to_string=False)


class OrderOutputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="id")
    userId = serializers.CharField(source="user_id")
    items = OrderItemSerializer(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    status = serializers.CharField()
    statusReason = serializers.CharField(source="status_reason")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class OrderCreateInputSerializer(serializers.Serializer):
    userId = serializers.CharField(source="user_id", max_length=128)
    items = OrderItemSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS)


class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OrderListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    userId = serializers.CharField(source="user_id", required=False, max_length=128)


class OrderCursorPagination(CursorPagination):
    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


def _order_or_404(order_id: str) -> Order:
    try:
        return selectors.order_get(order_id=uuid.UUID(order_id))
    except (ValueError, Order.DoesNotExist):
        raise Http404("No order with this id.") from None


class ProblemSerializer(serializers.Serializer):
    """The error body of every endpoint (RFC 9457 problem details)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


PROBLEM = OpenApiResponse(ProblemSerializer, description="Problem details")


def _conflict(exc: Exception, field: str = "status") -> Response:
    return problem(status.HTTP_409_CONFLICT, "Conflict.", "conflict", str(exc), {field: [str(exc)]})


class OrderListCreateApi(APIView):
    queryset = Order.objects.none()  # tells ModelPermissions which model this is

    @extend_schema(
        operation_id="orders_list",
        parameters=[OrderListFilterSerializer, OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: OrderOutputSerializer(many=True), 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = OrderListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = OrderCursorPagination()
        page = paginator.paginate_queryset(selectors.order_list(filters=filters.validated_data), request, self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        request=OrderCreateInputSerializer,
        responses={201: OrderOutputSerializer, 400: PROBLEM},
    )
    def post(self, request: Request) -> Response:
        payload = OrderCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = services.order_create(
            user_id=payload.validated_data["user_id"],
            items=payload.validated_data["items"],
            created_by=request.user,
        )
        order = selectors.order_get(order_id=order.pk)
        return Response(
            OrderOutputSerializer(order).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path.rstrip('/')}/{order.pk}"},
        )


class OrderDetailApi(APIView):
    queryset = Order.objects.none()
    required_permissions = {"DELETE": ["orders.cancel_order"]}

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOutputSerializer, 404: PROBLEM})
    def get(self, request: Request, order_id: str) -> Response:
        return Response(OrderOutputSerializer(_order_or_404(order_id)).data)

    @extend_schema(
        operation_id="orders_cancel",
        responses={204: None, 404: PROBLEM, 409: PROBLEM},
        description="Cancels the order.",
    )
    def delete(self, request: Request, order_id: str) -> Response:
        order = _order_or_404(order_id)
        try:
            services.order_cancel(order_id=order.pk, actor=request.user, reason="Cancelled through the API")
        except InvalidTransition as exc:
            return _conflict(exc)
        except services.ConcurrentUpdate as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderStatusApi(APIView):
    queryset = Order.objects.none()
    required_permissions = {"PUT": ["orders.change_order"]}

    @extend_schema(
        operation_id="orders_status_update",
        request=OrderStatusInputSerializer,
        responses={200: OrderOutputSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def put(self, request: Request, order_id: str) -> Response:
        order = _order_or_404(order_id)
        payload = OrderStatusInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.order_set_status(
                order_id=order.pk,
                status=payload.validated_data["status"],
                actor=request.user,
                reason=payload.validated_data["reason"],
            )
        except (InvalidTransition, services.StatusNotSettable, services.ConcurrentUpdate) as exc:
            return _conflict(exc)
        return Response(OrderOutputSerializer(selectors.order_get(order_id=order.pk)).data)
