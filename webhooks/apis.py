"""REST endpoints for webhooks (camelCase JSON, cursor pages, problem answers). An API client
manages its own endpoints; those with webhooks.manage_all_endpoints reach every client's.

GET  /api/webhooks/endpoints                       the endpoints
POST /api/webhooks/endpoints                       register one (answers its secret, once)
GET|PATCH|DELETE /api/webhooks/endpoints/{id}
POST /api/webhooks/endpoints/{id}/rotate-secret    a new secret; the old one signs too for a while
POST /api/webhooks/endpoints/{id}/redeliver        send every failed delivery again
GET  /api/webhooks/endpoints/{id}/deliveries       its delivery history
POST /api/webhooks/deliveries/{id}/redeliver       send one delivery again
GET  /api/webhooks/queues                          the order events topic's queue subscribers
POST /api/webhooks/replay                          events of an order or a time range, again,
                                                   to an endpoint, a queue subscriber or all
"""

from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import BAD_INPUT, FORBIDDEN, PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from webhooks import selectors, services
from webhooks.models import Delivery, Endpoint

NOT_FOUND = PROBLEM
EVENT_TYPES_HELP = (
    "Order event types (as in GET /api/orders/{id}/events and the order-events topic: OrderCreated, "
    "OrderApproved, OrderCancelled, ...); empty for every type."
)


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    url = serializers.URLField(max_length=2000, help_text="HTTPS.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    eventTypes = serializers.ListField(
        source="event_types",
        child=serializers.ChoiceField(choices=services.ORDER_EVENT_TYPES),
        max_length=50,
        required=False,
        default=list,
        help_text=EVENT_TYPES_HELP,
    )
    enabled = serializers.BooleanField(required=False, default=True)
    disabledReason = serializers.CharField(source="disabled_reason", read_only=True)
    consecutiveFailures = serializers.IntegerField(source="consecutive_failures", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_...: verify each delivery's signature with it.")
    previousSecretExpiresAt = serializers.DateTimeField(
        source="previous_secret_expires_at", read_only=True, allow_null=True
    )


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    webhookId = serializers.CharField(source="webhook_id", help_text="The webhook-id header, the same on every retry.")
    eventId = serializers.UUIDField(source="event_id")
    eventType = serializers.CharField(source="event_type")
    orderId = serializers.UUIDField(source="order_id")
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempts = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    createdAt = serializers.DateTimeField(source="created_at")
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)


def _refused(exc: services.WebhookRefused) -> Response:
    return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {exc.field: [str(exc)]})


class EndpointListApi(APIView):
    queryset = Endpoint.objects.none()
    pagination_class = KeysetPagination

    @extend_schema(operation_id="webhook_endpoints_list", responses={200: EndpointSerializer(many=True)})
    def get(self, request: Request) -> Response:
        paginator = KeysetPagination()
        rows = paginator.paginate_queryset(selectors.endpoints_visible_to(request.user), request, self)
        return paginator.get_paginated_response(EndpointSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=EndpointSerializer,
        responses={201: EndpointWithSecretSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        description="Register an endpoint for this client's orders' events. The answer holds its secret.",
    )
    def post(self, request: Request) -> Response:
        payload = EndpointSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            endpoint = services.endpoint_create(
                owner=request.user,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
                actor=request.user,
            )
        except services.WebhookRefused as exc:
            return _refused(exc)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    queryset = Endpoint.objects.none()

    def _endpoint(self, request: Request, pk) -> Endpoint:
        return get_object_or_404(selectors.endpoints_visible_to(request.user), pk=pk)

    @extend_schema(operation_id="webhook_endpoints_retrieve", responses={200: EndpointSerializer, 404: NOT_FOUND})
    def get(self, request: Request, pk) -> Response:
        return Response(EndpointSerializer(self._endpoint(request, pk)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=EndpointSerializer(partial=True),
        responses={200: EndpointSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Change the URL, event types, description, or enable/disable (enabling clears the failure count).",
    )
    def patch(self, request: Request, pk) -> Response:
        endpoint = self._endpoint(request, pk)
        payload = EndpointSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_update(endpoint=endpoint, actor=request.user, **payload.validated_data)
        except services.WebhookRefused as exc:
            return _refused(exc)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhook_endpoints_destroy", responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND})
    def delete(self, request: Request, pk) -> Response:
        services.endpoint_delete(endpoint=self._endpoint(request, pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(APIView):
    queryset = Endpoint.objects.none()
    required_permissions = {"POST": ["webhooks.rotate_endpoint_secret"]}

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=None,
        responses={200: EndpointWithSecretSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="A new secret. Until previousSecretExpiresAt each delivery carries both signatures.",
    )
    def post(self, request: Request, pk) -> Response:
        endpoint = get_object_or_404(selectors.endpoints_visible_to(request.user), pk=pk)
        endpoint = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class RedeliverSerializer(serializers.Serializer):
    deliveries = serializers.IntegerField(help_text="How many deliveries were queued again.")


class EndpointRedeliverApi(APIView):
    queryset = Endpoint.objects.none()
    required_permissions = {"POST": ["webhooks.redeliver_delivery"]}

    @extend_schema(
        operation_id="webhook_endpoints_redeliver",
        request=None,
        responses={202: RedeliverSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Send every failed (or skipped) delivery of the endpoint again, with its webhook-id.",
    )
    def post(self, request: Request, pk) -> Response:
        endpoint = get_object_or_404(selectors.endpoints_visible_to(request.user), pk=pk)
        count = services.endpoint_redeliver_failed(endpoint=endpoint, actor=request.user)
        return Response({"deliveries": count}, status=status.HTTP_202_ACCEPTED)


class EndpointDeliveriesApi(APIView):
    queryset = Endpoint.objects.none()
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="webhook_endpoints_deliveries", responses={200: DeliverySerializer(many=True), 404: NOT_FOUND}
    )
    def get(self, request: Request, pk) -> Response:
        endpoint = get_object_or_404(selectors.endpoints_visible_to(request.user), pk=pk)
        paginator = KeysetPagination()
        rows = paginator.paginate_queryset(endpoint.deliveries.all(), request, self)
        return paginator.get_paginated_response(DeliverySerializer(rows, many=True).data)


class DeliveryRedeliverApi(APIView):
    queryset = Endpoint.objects.none()
    required_permissions = {"POST": ["webhooks.redeliver_delivery"]}

    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        request=None,
        responses={202: DeliverySerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Send one delivery again, with the same webhook-id.",
    )
    def post(self, request: Request, pk) -> Response:
        delivery = get_object_or_404(selectors.deliveries_visible_to(request.user), pk=pk)
        delivery = services.delivery_redeliver(delivery=delivery, actor=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class QueueSubscriberSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The queue's name: what a replay's queue names.")
    queueArn = serializers.CharField(source="queue_arn")
    subscriptionArn = serializers.CharField(source="subscription_arn")
    filterPolicy = serializers.JSONField(source="filter_policy", allow_null=True)
    replayable = serializers.SerializerMethodField()
    reason = serializers.CharField(source="unsupported", help_text="Why a replay cannot reach it; empty when it can.")

    def get_replayable(self, subscriber) -> bool:
        return not subscriber.unsupported


class QueueSubscriberListApi(APIView):
    queryset = Endpoint.objects.none()
    required_permissions = {"GET": ["webhooks.manage_all_endpoints"]}

    @extend_schema(
        operation_id="webhook_queues_list",
        responses={200: QueueSubscriberSerializer(many=True), 403: FORBIDDEN},
        description=(
            "The SQS queues subscribed to the order-events topic that no function of the stage reads: "
            "services outside the console, which a replay can reach as SNS delivered to them."
        ),
    )
    def get(self, request: Request) -> Response:
        subscribers = selectors.queue_subscribers_visible_to(request.user)
        return Response(QueueSubscriberSerializer(subscribers, many=True).data)


class ReplayInputSerializer(serializers.Serializer):
    endpointId = serializers.UUIDField(
        source="endpoint_id",
        required=False,
        help_text="One endpoint. With neither endpointId nor queue: all your endpoints, and every queue subscriber "
        "for those who manage every endpoint.",
    )
    queue = serializers.CharField(
        max_length=80, required=False, help_text="One queue subscriber, by name (GET /api/webhooks/queues)."
    )
    orderId = serializers.UUIDField(source="order_id", required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, data):
        if "order_id" not in data and "since" not in data:
            raise serializers.ValidationError({"orderId": ["An order, or a time range (since, until)."]})
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise serializers.ValidationError({"until": ["After since."]})
        if "endpoint_id" in data and "queue" in data:
            raise serializers.ValidationError({"queue": ["An endpoint or a queue, not both."]})
        return data


class ReplayOutputSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    deliveries = serializers.IntegerField(help_text="Webhook deliveries queued.")
    queues = serializers.DictField(
        child=serializers.IntegerField(), help_text="Messages sent to each queue subscriber, by queue name."
    )


class ReplayApi(APIView):
    queryset = Endpoint.objects.none()
    required_permissions = {"POST": ["webhooks.redeliver_delivery"]}

    @extend_schema(
        operation_id="webhooks_replay",
        request=ReplayInputSerializer,
        responses={202: ReplayOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        description=(
            "Send again the events of one order, or of a time range, to one endpoint, to one queue subscriber, "
            "or to all. Event ids are unchanged: endpoints see the webhook-id, and queues the eventId, they saw "
            "the first time."
        ),
    )
    def post(self, request: Request) -> Response:
        payload = ReplayInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        endpoints = selectors.endpoints_visible_to(request.user).filter(enabled=True)
        queues = selectors.queue_subscribers_visible_to(request.user)
        if "endpoint_id" in data:
            endpoints = endpoints.filter(pk=data["endpoint_id"])
            get_object_or_404(endpoints)
            queues = []
        elif "queue" in data:
            queues = [subscriber for subscriber in queues if subscriber.name == data["queue"]]
            if not queues:
                return problem(status.HTTP_404_NOT_FOUND, "Not found.", "not_found", "No such queue subscriber.")
            endpoints = endpoints.none()
        else:
            queues = [subscriber for subscriber in queues if not subscriber.unsupported]
        try:
            result = services.events_replay(
                endpoints=endpoints,
                queues=queues,
                actor=request.user,
                order_id=data.get("order_id"),
                since=data.get("since"),
                until=data.get("until"),
            )
        except services.WebhookRefused as exc:
            return _refused(exc)
        return Response(result, status=status.HTTP_202_ACCEPTED)
