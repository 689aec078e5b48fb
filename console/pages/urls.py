"""The console's pages (the Django admin site), loaded on the first request that needs them
(see ``console.apps.ConsoleAdminConfig``)."""

from django.contrib import admin
from django.urls import path

admin.autodiscover()

urlpatterns = [path("", admin.site.urls)]
