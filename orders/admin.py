"""Console pages for orders: the list (status filter, search by order id or customer) and
an order page with its items, its workflow execution and any approval it waits for."""

import logging
import uuid

from django.contrib import admin, messages
from django.db.models import QuerySet

from console.models import AuditEntry
from orders import lifecycle
from orders.models import Order, OrderItem, StockLevel
from orders.services import ConcurrentUpdate, order_cancel

logger = logging.getLogger(__name__)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    fields = ["product_id", "name", "quantity", "price"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "total", "status", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["user_id"]
    search_help_text = "An order id, or a customer (user id)."
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline]
    actions = ["cancel_orders"]
    fields = ["id", "user_id", "total", "status", "status_reason", "version", "created_at", "updated_at", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def get_search_results(self, request, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            # Not an order id: an exact customer id (indexed), not a table scan.
            return queryset.filter(user_id=term), False

    @admin.action(permissions=["cancel"], description="Cancel selected orders")
    def cancel_orders(self, request, queryset: QuerySet) -> None:
        cancelled, refused = 0, []
        for order in queryset:
            try:
                order_cancel(
                    order_id=order.pk,
                    actor=request.user,
                    reason="Cancelled in the console",
                    source=AuditEntry.Source.CONSOLE,
                )
                cancelled += 1
            except (lifecycle.InvalidTransition, ConcurrentUpdate) as exc:
                refused.append(f"{order.pk}: {exc}")
        if cancelled:
            messages.success(request, f"Cancelled {cancelled} order(s).")
        for line in refused:
            messages.warning(request, line)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["workflow"] = self._workflow_context(object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def _workflow_context(self, object_id) -> dict:
        from workflows.models import Approval, Execution
        from workflows.services import execution_refresh

        try:
            order_id = uuid.UUID(str(object_id))
        except ValueError:
            return {}
        execution = Execution.objects.filter(order_id=order_id).order_by("-created_at").first()
        live_error = ""
        if execution is not None and execution.is_open and execution.arn:
            try:
                execution = execution_refresh(execution=execution)
            except Exception as exc:  # the page still shows what we know
                logger.warning("could not refresh %s: %s", execution.name, exc)
                live_error = type(exc).__name__
        approvals = (
            Approval.objects.filter(order_id=order_id).select_related("decided_by", "order").order_by("-requested_at")
        )
        return {"execution": execution, "approvals": list(approvals), "live_error": live_error}


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = ["product_id", "available"]
    search_fields = ["=product_id"]
