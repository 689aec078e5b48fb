from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("orders.urls")),
    # Approvals (the inbox over REST)
    path("api/", include("workflows.urls")),
    # Media and CSV ingestion
    path("api/", include("media.urls")),
    path("", admin.site.urls),
]
