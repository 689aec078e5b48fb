from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("orders.urls")),
    # Approvals (the inbox over REST)
    path("api/", include("workflows.urls")),
    # Dead-letter queues and alarms.
    path("api/", include("ops.urls")),
    # Media and CSV ingestion
    path("api/", include("media.urls")),
    path("", admin.site.urls),
]

# --- Orders at production depth: the API's schema and docs; problem answers for API errors
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.urls import re_path  # noqa: E402
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView  # noqa: E402

urlpatterns[:0] = [
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    # Docs for people: a console login (the page's requests then use that session).
    re_path(
        r"^api/docs/?$",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema"), login_url="admin:login"),
        name="api-docs",
    ),
]

handler400 = "console.api.bad_request"
handler403 = "console.api.permission_denied"
handler404 = "console.api.not_found"
handler500 = "console.api.server_error"
