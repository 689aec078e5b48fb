from django.urls import re_path

from orders import apis

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^orders/?$", apis.OrderListCreateApi.as_view(), name="order-list"),
    re_path(r"^orders/(?P<order_id>[^/]+)/events/?$", apis.OrderEventListApi.as_view(), name="order-events"),
    re_path(r"^orders/(?P<order_id>[^/]+)/status/?$", apis.OrderStatusApi.as_view(), name="order-status"),
    re_path(r"^orders/(?P<order_id>[^/]+)/?$", apis.OrderDetailApi.as_view(), name="order-detail"),
]
