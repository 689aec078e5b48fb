"""The project's URLs plus the baselines the benchmarks compare against, in the same process:

* ``/bench-api/orders``: plain DRF, a ListAPIView with ``PageNumberPagination`` (OFFSET
  pages and a COUNT(*) per request) and django-filter on status, same serializer and
  permissions as ours;
* ``/bench-api/orders-cursor``: our order list view with DRF's own ``CursorPagination``
  (ordered as ours, ``-created_at, -id``) for ours: only the paginator differs;
* ``/bench-admin/``: a default ``ModelAdmin`` for orders (same columns, the status filter
  and a search on the id, nothing tuned).
"""

from django.contrib import admin
from django.urls import path, re_path
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination, PageNumberPagination

from console.urls import urlpatterns as project_urlpatterns
from orders import selectors
from orders.apis import OrderListCreateApi, OrderOutputSerializer
from orders.models import Order


class PlainPagination(PageNumberPagination):
    page_size = 50


class PlainCursorPagination(CursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")


class PlainOrderList(ListAPIView):
    queryset = Order.objects.none()
    serializer_class = OrderOutputSerializer
    pagination_class = PlainPagination
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.order_list(user=self.request.user)


class PlainCursorOrderList(OrderListCreateApi):
    http_method_names = ["get"]
    pagination_class = PlainCursorPagination


default_site = admin.AdminSite(name="benchadmin")


class DefaultOrderAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "total", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["id"]


default_site.register(Order, DefaultOrderAdmin)

urlpatterns = [
    re_path(r"^bench-api/orders/?$", PlainOrderList.as_view()),
    re_path(r"^bench-api/orders-cursor/?$", PlainCursorOrderList.as_view()),
    path("bench-admin/", default_site.urls),
    *project_urlpatterns,
]
