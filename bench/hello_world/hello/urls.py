from django.contrib import admin
from django.http import JsonResponse
from django.urls import path


def hello(request):
    return JsonResponse({"hello": "world"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/orders", hello),
]
