from django.urls import re_path

from webhooks import apis

# A UUID as written (a 36-character string of zeros is not one: a 404, not an error).
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^webhooks/endpoints/?$", apis.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    re_path(
        rf"^webhooks/endpoints/(?P<pk>{UUID})/?$",
        apis.EndpointDetailApi.as_view(),
        name="webhook-endpoint-detail",
    ),
    re_path(
        rf"^webhooks/endpoints/(?P<pk>{UUID})/rotate-secret/?$",
        apis.EndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    re_path(
        rf"^webhooks/endpoints/(?P<pk>{UUID})/redeliver/?$",
        apis.EndpointRedeliverApi.as_view(),
        name="webhook-endpoint-redeliver",
    ),
    re_path(
        rf"^webhooks/endpoints/(?P<pk>{UUID})/deliveries/?$",
        apis.EndpointDeliveriesApi.as_view(),
        name="webhook-endpoint-deliveries",
    ),
    re_path(
        rf"^webhooks/deliveries/(?P<pk>{UUID})/redeliver/?$",
        apis.DeliveryRedeliverApi.as_view(),
        name="webhook-delivery-redeliver",
    ),
    re_path(r"^webhooks/queues/?$", apis.QueueSubscriberListApi.as_view(), name="webhook-queue-list"),
    re_path(r"^webhooks/replay/?$", apis.ReplayApi.as_view(), name="webhook-replay"),
]
