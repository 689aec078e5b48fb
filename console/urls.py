from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("orders.urls")),
    # Approvals (the inbox over REST)
    path("api/", include("workflows.urls")),
    path("", admin.site.urls),
]
