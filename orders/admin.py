"""Console pages for orders: the list (status, date and total filters, search by order id or
customer, CSV export), and an order page with its items, its timeline (events, actions),
and what the apps built on orders add there (``orders.pages``: workflows shows the order's
execution, the approval it waits for, and its steps and approvals in the timeline). Order
CSV imports have their pages in ``orders.imports.admin``, registered from here.

The list stays fast at a million orders: estimated counts instead of COUNT(*), no date
drill-down (it scans the table for its dates), searches that are index lookups, and only
the order's own columns (no related rows per line).
"""

import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from console.models import AuditEntry
from console.pages.change_audit import AuditedModelAdmin
from console.pages.user_links import UserLinksMixin
from console.platform.audit import audit_record
from console.platform.counts import EstimatedCountPaginator
from orders import exports, lifecycle, selectors
from orders.imports import admin as imports_admin  # noqa: F401 (registers the imports' pages)
from orders.models import Order, OrderItem, StockLevel
from orders.pages import order_panels
from orders.selectors import order_timeline
from orders.services import ConcurrentUpdate, order_cancel, order_note_add

# The cancel action runs one service call per order: beyond this, narrow the selection.
MAX_ACTION_ORDERS = 500


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    fields = ["product_id", "name", "quantity", "price"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TotalFilter(admin.SimpleListFilter):
    """Order totals in brackets (``selectors.TOTAL_BRACKETS``)."""

    title = "total"
    parameter_name = "total"

    def lookups(self, request, model_admin):
        return [
            ("lt100", "Under 100"),
            ("100-1000", "100 to 1,000"),
            ("1000-10000", "1,000 to 10,000"),
            ("gte10000", "10,000 and more"),
        ]

    def queryset(self, request, queryset):
        return selectors.order_total_bracket(queryset, self.value())


class OrderChangeList(ChangeList):
    """The order list: its rows are ``selectors.order_console_list`` for the page's
    parameters (what an export writes, too), sorted as the page asks; page links for an
    estimated count."""

    def get_queryset(self, request, exclude_parameters=None):
        # Django's own pass checks the parameters, sets up the sidebar's filters and the sort.
        listed = super().get_queryset(request, exclude_parameters)
        if exclude_parameters:  # facet counts: Django's pass is the answer
            return listed
        try:
            rows = selectors.order_console_list(params=self.params)
        except selectors.OrderListInvalid as exc:
            raise IncorrectLookupParameters(exc) from exc
        return rows.order_by(*listed.query.order_by)

    def nearby_pages(self) -> list[tuple[int, str]]:
        first = max(1, self.page_num - 3)
        return [(n, self.get_query_string({PAGE_VAR: n})) for n in range(first, self.page_num + 1)]

    def next_page_url(self) -> str:
        if self.page_num * self.list_per_page >= self.result_count:
            return ""
        return self.get_query_string({PAGE_VAR: self.page_num + 1})


# How the order list colours a status: ended well, waiting on someone, ended badly.
STATUS_TONES = {
    lifecycle.OrderStatus.DELIVERED: "ok",
    lifecycle.OrderStatus.COMPLETED: "ok",
    lifecycle.OrderStatus.AWAITING_APPROVAL: "warn",
    lifecycle.OrderStatus.REJECTED: "bad",
    lifecycle.OrderStatus.FAILED: "bad",
    lifecycle.OrderStatus.CANCELLED: "bad",
}


@admin.register(Order)
class OrderAdmin(UserLinksMixin, admin.ModelAdmin):
    list_display = ["order_ref", "user_id", "total", "status_badge", "created_at"]
    list_display_links = ["order_ref"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter), TotalFilter]
    search_fields = ["user_id"]
    search_help_text = "An order id (or its first 8 characters), or a customer's user id."
    ordering = ["-created_at"]
    sortable_by = ["created_at", "total"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = [OrderItemInline]
    actions = ["cancel_orders"]
    fields = ["id", "user_id", "total", "status", "status_reason", "version", "created_at", "updated_at", "created_by"]
    change_list_template = "admin/orders/order/change_list.html"

    @admin.display(description="Order")
    def order_ref(self, order: Order) -> str:
        # Its first 8 characters, as the other lists show orders (and search takes them); whole on hover.
        return format_html('<span title="{}">{}</span>', order.pk, str(order.pk)[:8])

    @admin.display(description="Status")
    def status_badge(self, order: Order) -> str:
        return format_html(
            '<span class="order-status tone-{}">{}</span>',
            STATUS_TONES.get(order.status, ""),
            order.get_status_display(),
        )

    def get_readonly_fields(self, request, obj=None):
        return self.user_fields_in(request, self.fields)

    def get_changelist(self, request, **kwargs):
        return OrderChangeList

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def get_search_results(self, request, queryset: QuerySet, search_term: str):
        return selectors.order_search(queryset, search_term), False

    @admin.action(permissions=["cancel"], description="Cancel selected orders")
    def cancel_orders(self, request, queryset: QuerySet) -> None:
        selected = list(queryset.order_by()[: MAX_ACTION_ORDERS + 1].values_list("pk", flat=True))
        if len(selected) > MAX_ACTION_ORDERS:
            messages.error(
                request, f"That selects more than {MAX_ACTION_ORDERS} orders: narrow the list first. Nothing changed."
            )
            return
        cancelled, refused = 0, []
        for order_id in selected:
            try:
                order_cancel(
                    order_id=order_id,
                    actor=request.user,
                    reason="Cancelled in the console",
                    source=AuditEntry.Source.CONSOLE,
                )
                cancelled += 1
            except (lifecycle.InvalidTransition, ConcurrentUpdate) as exc:
                refused.append(f"{order_id}: {exc}")
        if cancelled:
            messages.success(request, f"Cancelled {cancelled} order(s).")
        for line in refused:
            messages.warning(request, line)

    # --- Custom pages: export and notes ---------------------------------------------------

    def get_urls(self):
        custom = [
            path("export/", self.admin_site.admin_view(self.export_view), name="orders_order_export"),
            path(
                "export/download/<str:token>/",
                self.admin_site.admin_view(self.export_download_view),
                name="orders_order_export_download",
            ),
            path(
                "<path:object_id>/note/",
                self.admin_site.admin_view(require_POST(self.note_view)),
                name="orders_order_note",
            ),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_export"] = request.user.has_perm("orders.export_order")
        extra_context["export_query"] = request.GET.urlencode()
        extra_context["export_to_file"] = settings.ORDER_EXPORT_TO_FILE
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The list as filtered and searched on the changelist, as CSV (orders.exports):
        streamed in chunks (constant memory at any size), or, with ORDER_EXPORT_TO_FILE,
        posted here, written to a file by a job and its link emailed."""
        if not (self.has_view_permission(request) and request.user.has_perm("orders.export_order")):
            raise PermissionDenied
        if settings.ORDER_EXPORT_TO_FILE:
            return self._export_to_file(request)
        changelist = self.get_changelist_instance(request)
        filters = request.GET.urlencode()
        audit_record(
            action="order.export",
            object_type="orders.order",
            actor=request.user,
            source=AuditEntry.Source.CONSOLE,
            reason=f"CSV export of the order list ({filters or 'all orders'})",
            after={"filters": filters},
        )
        response = StreamingHttpResponse(
            exports.csv_lines(exports.export_queryset(changelist.queryset)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{exports.export_filename()}"'
        return response

    def _export_to_file(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        filters = QueryDict(request.POST.get("filters", "")).urlencode()
        changelist_url = reverse("admin:orders_order_changelist") + (f"?{filters}" if filters else "")
        # The filters come from the changelist's address: check them now, not in the job.
        try:
            selectors.order_console_list(params=QueryDict(filters))
        except selectors.OrderListInvalid:
            messages.error(request, "The list's filters are not valid: nothing was exported.")
            return HttpResponseRedirect(changelist_url)
        exports.export_to_file_request(user=request.user, filters=filters)
        where = (
            f"to {request.user.email}"
            if request.user.email
            else "(your account has no email address: ask an admin to add one)"
        )
        messages.success(
            request,
            f"Export queued: the list is written to a file in the background and a download link is emailed {where}.",
        )
        return HttpResponseRedirect(changelist_url)

    def export_download_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """An export link from an email: the file, for the operator it was made for."""
        if not (self.has_view_permission(request) and request.user.has_perm("orders.export_order")):
            raise PermissionDenied
        try:
            url = exports.download_url(token=token, user=request.user)
        except exports.ExportRefused as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:orders_order_changelist"))
        audit_record(
            action="order.export.download",
            object_type="orders.order",
            actor=request.user,
            source=AuditEntry.Source.CONSOLE,
            reason="Downloaded an order list export",
        )
        return HttpResponseRedirect(url)

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not (self.has_view_permission(request) and request.user.has_perm("orders.annotate_order")):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=_uuid_or_404(object_id))
        try:
            order_note_add(order_id=order.pk, note=request.POST.get("note", ""), actor=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        except ConcurrentUpdate as exc:
            messages.error(request, f"{exc} Try again.")
        else:
            messages.success(request, "Note added to the order's history.")
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]) + "#timeline")

    # --- The order page -------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        try:
            order_id = uuid.UUID(str(object_id))
        except ValueError:
            extra_context.update(panels=[], timeline=[])
        else:
            # What the apps built on orders add (orders.pages): the workflow's panel, its steps.
            extra_context["panels"] = order_panels(order_id=order_id)
            extra_context["timeline"] = order_timeline(order_id=order_id)
        extra_context["can_annotate"] = request.user.has_perm("orders.annotate_order")
        # Every field is read-only: orders change through their actions (cancel, notes, the
        # workflow), so the page offers Close, not a Save that would change nothing.
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)


def _uuid_or_404(object_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(object_id))
    except ValueError:
        raise Http404("No order with this id.") from None


@admin.register(StockLevel)
class StockLevelAdmin(AuditedModelAdmin):
    list_display = ["product_id", "available"]
    search_fields = ["=product_id"]
