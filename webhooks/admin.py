"""Console pages for webhooks, every client's: endpoints (an admin registers one for any
API client, changes it, rotates its secret, redelivers its failures) and their delivery
history. Every change goes through ``webhooks.services`` and is audited there."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model

from console.models import AuditEntry
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform import roles
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint

CONSOLE = AuditEntry.Source.CONSOLE


class EndpointForm(forms.ModelForm):
    event_types = forms.JSONField(required=False, help_text='Order event types, e.g. ["OrderApproved"]; [] for all.')

    class Meta:
        model = Endpoint
        fields = ["owner", "url", "description", "event_types", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = get_user_model().objects.filter(groups__name=roles.API_CLIENT)

    def clean_event_types(self):
        value = self.cleaned_data.get("event_types") or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError("A list of event type names.")
        try:
            services.check_event_types(value)
        except services.WebhookRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            services.check_url(url)
        except services.WebhookRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "owner", "event_types", "enabled", "consecutive_failures", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["consecutive_failures", "disabled_reason", "previous_secret_expires_at", "created_at"]
    actions = ["rotate_secret", "redeliver_failed"]

    def get_queryset(self, request):
        # Console roles see every client's (the model permissions say who may do what).
        return super().get_queryset(request).select_related("owner")

    def get_readonly_fields(self, request, obj=None):
        # The owner is chosen once, when the endpoint is registered.
        return [*self.readonly_fields, "owner"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {
                name: data[name]
                for name in form.changed_data
                if name in ("url", "description", "event_types", "enabled")
            }
            saved = services.endpoint_update(endpoint=obj, actor=request.user, source=CONSOLE, **changes)
        else:
            saved = services.endpoint_create(
                owner=data["owner"],
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
                actor=request.user,
                source=CONSOLE,
            )
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj, actor=request.user, source=CONSOLE)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint, actor=request.user, source=CONSOLE)

    def has_rotate_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.rotate_endpoint_secret")

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.redeliver_delivery")

    @admin.action(description="Rotate the secret of selected endpoints", permissions=["rotate"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user, source=CONSOLE)
        messages.success(request, f"Rotated {queryset.count()} secrets; the old ones sign too during the grace period.")

    @admin.action(description="Redeliver the failed deliveries of selected endpoints", permissions=["redeliver"])
    def redeliver_failed(self, request, queryset):
        total = sum(
            services.endpoint_redeliver_failed(endpoint=endpoint, actor=request.user, source=CONSOLE)
            for endpoint in queryset
        )
        messages.success(request, f"{total} deliveries queued again.")


class AttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Attempt
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "succeeded"]
    readonly_fields = fields
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["event_type", "order_id", "endpoint", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=order_id", "=event_id"]
    list_select_related = ["endpoint"]
    inlines = [AttemptInline]
    actions = ["redeliver_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint")

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.redeliver_delivery")

    @admin.action(description="Redeliver selected deliveries", permissions=["redeliver"])
    def redeliver_selected(self, request, queryset):
        for delivery in queryset:
            services.delivery_redeliver(delivery=delivery, actor=request.user, source=CONSOLE)
        messages.success(request, f"{queryset.count()} deliveries queued again.")
