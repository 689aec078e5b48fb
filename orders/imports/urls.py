from django.urls import path, re_path

from orders.imports import apis

# Every route answers with and without a trailing slash.
urlpatterns = [
    re_path(r"^imports/?$", apis.ImportListCreateApi.as_view(), name="import-list"),
    path(
        "imports/<str:import_id>/rejected-rows.csv", apis.ImportRejectedRowsApi.as_view(), name="import-rejected-rows"
    ),
    re_path(r"^imports/(?P<import_id>[^/]+)/?$", apis.ImportDetailApi.as_view(), name="import-detail"),
]
