"""REST endpoints for orders, with the reference architecture's contract (camelCase JSON, amounts as numbers).

GET    /api/orders               list (cursor-paginated; filters, search, ordering)
POST   /api/orders               create -> 201 (Idempotency-Key honoured)
GET    /api/orders/{id}          one order
PUT    /api/orders/{id}/status   change status (statuses clients own) -> 200
DELETE /api/orders/{id}          cancel -> 204
GET    /api/orders/{id}/events   the order's event history, oldest first (``?order=newest``: newest first)

Every route reaches only the caller's orders (``selectors.order_visible_to`` and
``order_changeable_by``): an API client its own, unless it has ``orders.view_all_orders``
(see every order) or ``orders.change_all_orders`` (change them too). An order the caller
cannot see is a 404, as if it did not exist; one it sees but may not change is a 403.
"""

import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.idempotency import idempotent_post
from console.api.openapi import PROBLEM, ProblemSerializer, extend_schema  # noqa: F401 (re-exported)
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from orders import selectors, services
from orders.filters import OrderFilter
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import (
    AMOUNT_DECIMAL_PLACES,
    ITEM_PRICE_DIGITS,
    ITEM_QUANTITY_MAX,
    ORDER_ITEMS_MAX,
    ORDER_TOTAL_DIGITS,
    ORDER_TOTAL_MAX,
    Order,
    OrderEvent,
)


class OrderItemSerializer(serializers.Serializer):
    productId = serializers.CharField(source="product_id", max_length=128)
    name = serializers.CharField(max_length=255)
    quantity = serializers.IntegerField(min_value=1, max_value=ITEM_QUANTITY_MAX)
    price = serializers.DecimalField(
        max_digits=ITEM_PRICE_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, min_value=0, coerce_to_string=False
    )


@extend_schema_serializer(component_name="Order")
class OrderOutputSerializer(serializers.Serializer):
    orderId = serializers.UUIDField(source="id")
    userId = serializers.CharField(source="user_id")
    items = OrderItemSerializer(many=True)
    total = serializers.DecimalField(
        max_digits=ORDER_TOTAL_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, coerce_to_string=False
    )
    status = serializers.CharField()
    statusReason = serializers.CharField(source="status_reason")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    version = serializers.IntegerField(
        help_text="Bumped by every change; send it back as expectedVersion to change only what you read."
    )

    def to_representation(self, order: Order) -> dict:
        """The same output as the declared fields give, built directly: a list page of 50
        orders spends most of its time in DRF's per-field machinery otherwise. The fields
        above stay the contract (and the schema); a test checks both agree."""
        created_at, updated_at, total = self.fields["createdAt"], self.fields["updatedAt"], self.fields["total"]
        price = self.fields["items"].child.fields["price"]
        return {
            "orderId": str(order.id),
            "userId": order.user_id,
            "items": [
                {
                    "productId": item.product_id,
                    "name": item.name,
                    "quantity": item.quantity,
                    "price": price.to_representation(item.price),
                }
                for item in order.items.all()
            ],
            "total": total.to_representation(order.total),
            "status": order.status,
            "statusReason": order.status_reason,
            "createdAt": created_at.to_representation(order.created_at),
            "updatedAt": updated_at.to_representation(order.updated_at),
            "version": order.version,
        }

    def declared_representation(self, order: Order) -> dict:
        """What DRF makes of the declared fields (for the test that checks the fast path)."""
        return super().to_representation(order)


@extend_schema_serializer(component_name="OrderCreate")
class OrderCreateInputSerializer(serializers.Serializer):
    userId = serializers.CharField(source="user_id", max_length=128)
    # A ListField rather than many=True: drf-spectacular turns a ListField's length
    # validators into minItems/maxItems, a ListSerializer's min/max_length into nothing.
    items = serializers.ListField(
        child=OrderItemSerializer(),
        min_length=1,
        max_length=ORDER_ITEMS_MAX,
        help_text=f"1 to {ORDER_ITEMS_MAX} items. Each line's total (quantity x price) and the order's total "
        f"must be at most {ORDER_TOTAL_MAX:,}: a 400 names the line (items.N) or items.",
    )


@extend_schema_serializer(component_name="OrderStatusChange")
class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expectedVersion = serializers.IntegerField(
        source="expected_version",
        required=False,
        min_value=1,
        help_text="The order's version as you read it: if it changed since, the answer is 409 and nothing changes.",
    )


def _order_or_404(order_id: str, user, *, to_change: bool = False) -> Order:
    """The order if ``user`` may see it (and change it, with ``to_change``). Another
    client's order is a 404 like a missing one, so ids cannot be probed."""
    try:
        order = selectors.order_get(order_id=uuid.UUID(order_id), user=user)
    except (ValueError, Order.DoesNotExist):
        raise Http404("No order with this id.") from None
    if to_change and not selectors.order_changeable_by(order=order, user=user):
        raise PermissionDenied("You may change only the orders you created.")
    return order


def _conflict(exc: Exception, field: str = "status") -> Response:
    if isinstance(exc, services.VersionConflict):
        return problem(
            status.HTTP_409_CONFLICT, "Conflict.", "version_conflict", str(exc), {"expectedVersion": [str(exc)]}
        )
    if isinstance(exc, services.ConcurrentUpdate):
        return problem(status.HTTP_409_CONFLICT, "Conflict.", "concurrent_update", str(exc), {field: [str(exc)]})
    return problem(status.HTTP_409_CONFLICT, "Conflict.", "conflict", str(exc), {field: [str(exc)]})


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID): resending the same request with the same key returns the first "
    "result instead of creating another order; the same key with another body is a 422.",
)


class OrderListCreateApi(GenericAPIView):
    queryset = Order.objects.none()  # tells ModelPermissions which model this is
    filter_backends = [DjangoFilterBackend]
    filterset_class = OrderFilter
    pagination_class = KeysetPagination
    serializer_class = OrderOutputSerializer

    def get_queryset(self):
        return selectors.order_list(user=self.request.user)

    @extend_schema(operation_id="orders_list", responses={200: OrderOutputSerializer(many=True), 400: PROBLEM})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        parameters=[IDEMPOTENCY_KEY],
        request=OrderCreateInputSerializer,
        responses={201: OrderOutputSerializer, 400: PROBLEM, 422: PROBLEM},
        filters=False,
    )
    def post(self, request: Request) -> Response:
        return idempotent_post(request, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        payload = OrderCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            order = services.order_create(
                user_id=payload.validated_data["user_id"],
                items=payload.validated_data["items"],
                created_by=request.user,
            )
        except services.OrderAmountsInvalid as exc:
            # Totals the schema cannot express (each item fits; their sum does not): a 400
            # in the same shape as the fields' own errors.
            raise ValidationError(exc.errors) from None
        order = selectors.order_get(order_id=order.pk, user=request.user)
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
        return Response(OrderOutputSerializer(_order_or_404(order_id, request.user)).data)

    @extend_schema(
        operation_id="orders_cancel",
        responses={204: None, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
        description="Cancels the order.",
    )
    def delete(self, request: Request, order_id: str) -> Response:
        order = _order_or_404(order_id, request.user, to_change=True)
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
        responses={200: OrderOutputSerializer, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def put(self, request: Request, order_id: str) -> Response:
        order = _order_or_404(order_id, request.user, to_change=True)
        payload = OrderStatusInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.order_set_status(
                order_id=order.pk,
                status=payload.validated_data["status"],
                actor=request.user,
                reason=payload.validated_data["reason"],
                expected_version=payload.validated_data.get("expected_version"),
            )
        except (InvalidTransition, services.StatusNotSettable, services.ConcurrentUpdate) as exc:
            return _conflict(exc)
        return Response(OrderOutputSerializer(selectors.order_get(order_id=order.pk, user=request.user)).data)


class OrderEventMetadataSerializer(serializers.Serializer):
    correlationId = serializers.CharField(source="correlation_id")
    causationId = serializers.CharField(source="causation_id")
    actor = serializers.CharField(source="actor_name")


@extend_schema_serializer(component_name="OrderEvent")
class OrderEventOutputSerializer(serializers.Serializer):
    """The same body as the event's message on SNS (``orders.outbox.event_message``)."""

    eventId = serializers.UUIDField(source="id")
    aggregateId = serializers.UUIDField(source="order_id", help_text="The order's id.")
    version = serializers.IntegerField(help_text="The order's version this event made: 1, 2, 3, ... per order.")
    eventType = serializers.CharField(source="event_type")
    data = serializers.JSONField()
    timestamp = serializers.DateTimeField(source="created_at")
    metadata = OrderEventMetadataSerializer(source="*")


class OrderEventListFilterSerializer(serializers.Serializer):
    order = serializers.ChoiceField(
        choices=["oldest", "newest"],
        required=False,
        default="oldest",
        help_text="`oldest` (the default): by version, first event first; `newest`: the last change first.",
    )


class OrderEventPagination(KeysetPagination):
    """By version (unique per order); the direction is the list's (``order``)."""

    default_ordering = "version"


class OrderEventListApi(APIView):
    queryset = Order.objects.none()  # reading the history is reading the order: orders.view_order
    pagination_class = OrderEventPagination

    @extend_schema(
        operation_id="orders_events_list",
        parameters=[OrderEventListFilterSerializer],
        responses={200: OrderEventOutputSerializer(many=True), 400: PROBLEM, 403: PROBLEM, 404: PROBLEM},
        description="The order's event history, oldest first unless `order=newest`: every change, with the "
        "same body as its message on SNS. The same orders as GET /api/orders/{id}: another client's order "
        "is a 404.",
    )
    def get(self, request: Request, order_id: str) -> Response:
        order = _order_or_404(order_id, request.user)
        filters = OrderEventListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = selectors.order_event_list(order=order, newest_first=filters.validated_data["order"] == "newest")
        paginator = self.pagination_class()
        page: list[OrderEvent] = paginator.paginate_queryset(events, request, self)
        return paginator.get_paginated_response(OrderEventOutputSerializer(page, many=True).data)
