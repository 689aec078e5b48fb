from django.urls import re_path

from webhooks import apis

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^webhooks/endpoints/?$", apis.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    re_path(
        r"^webhooks/endpoints/(?P<pk>[0-9a-f-]{36})/?$",
        apis.EndpointDetailApi.as_view(),
        name="webhook-endpoint-detail",
    ),
    re_path(
        r"^webhooks/endpoints/(?P<pk>[0-9a-f-]{36})/rotate-secret/?$",
        apis.EndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    re_path(
        r"^webhooks/endpoints/(?P<pk>[0-9a-f-]{36})/redeliver/?$",
        apis.EndpointRedeliverApi.as_view(),
        name="webhook-endpoint-redeliver",
    ),
    re_path(
        r"^webhooks/endpoints/(?P<pk>[0-9a-f-]{36})/deliveries/?$",
        apis.EndpointDeliveriesApi.as_view(),
        name="webhook-endpoint-deliveries",
    ),
    re_path(
        r"^webhooks/deliveries/(?P<pk>[0-9a-f-]{36})/redeliver/?$",
        apis.DeliveryRedeliverApi.as_view(),
        name="webhook-delivery-redeliver",
    ),
    re_path(r"^webhooks/replay/?$", apis.ReplayApi.as_view(), name="webhook-replay"),
]
