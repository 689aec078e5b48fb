"""What the stage costs this month, so far and projected, per area, with the levers that
would pay (``ops.costs``). Admins only: the model's view permission, which no other role
holds."""

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from console.aws import clients as aws
from console.pages.readonly import ReadOnlyAdminMixin
from ops import costs
from ops.models import StageCost


@admin.register(StageCost)
class StageCostAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A page of its own (no table behind the model)."""

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.changelist_view), name="ops_stagecost_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            report, error = costs.stage_costs(refresh=request.GET.get("refresh") == "1"), ""
        except (ClientError, BotoCoreError) as exc:
            report = None
            error = f"CloudWatch did not answer ({aws.error_code(exc) or type(exc).__name__}): no figures to show."
        context = {
            **self.admin_site.each_context(request),
            "title": "What the stage costs",
            "opts": self.model._meta,
            "report": report,
            "error": error,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/ops/stagecost/change_list.html", context)
