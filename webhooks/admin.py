"""Console pages for webhooks, every client's: endpoints (an admin registers one for any
API client, changes it, rotates its secret, redelivers its failures), their delivery
history, and the replay of order events to an endpoint, a queue subscriber or all. Every
change goes through ``webhooks.services`` and is audited there."""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from console.models import AuditEntry
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform import roles
from webhooks import selectors, services
from webhooks.models import Attempt, Delivery, Endpoint

logger = logging.getLogger(__name__)

CONSOLE = AuditEntry.Source.CONSOLE
REPLAY_PERMISSION = "webhooks.redeliver_delivery"


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


class ReplayForm(forms.Form):
    """What to send again (an order's events, or a time range's) and to whom."""

    target = forms.ChoiceField(label="Send to")
    order_id = forms.UUIDField(label="Order", required=False, help_text="Every event of this order.")
    since = forms.DateTimeField(
        required=False,
        help_text="Or the events of a time range (UTC): from this time …",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        required=False,
        help_text="… to this one (now when empty).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, endpoints, queues, **kwargs):
        super().__init__(*args, **kwargs)
        self.endpoints = {str(endpoint.pk): endpoint for endpoint in endpoints}
        self.queues = {subscriber.name: subscriber for subscriber in queues if not subscriber.unsupported}
        everyone = "Every endpoint" + (" and queue subscriber" if self.queues else "")
        self.fields["target"].choices = [
            ("all", everyone),
            *[(f"endpoint:{pk}", f"Endpoint {e.url} ({e.owner})") for pk, e in self.endpoints.items()],
            *[(f"queue:{name}", f"Queue {name}") for name in self.queues],
        ]

    def clean(self):
        data = super().clean()
        if not data.get("order_id") and not data.get("since"):
            raise forms.ValidationError("Give an order, or the start of a time range.")
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            self.add_error("until", "After the start.")
        return data

    def chosen(self, all_endpoints):
        """(the endpoints queryset, the queue subscribers) the target names."""
        kind, _, key = self.cleaned_data["target"].partition(":")
        if kind == "endpoint":
            return all_endpoints.filter(pk=self.endpoints[key].pk), []
        if kind == "queue":
            return all_endpoints.none(), [self.queues[key]]
        return all_endpoints, list(self.queues.values())


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

    def get_urls(self):
        replay = path("replay/", self.admin_site.admin_view(self.replay_view), name="webhooks_endpoint_replay")
        return [replay, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_replay": request.user.has_perm(REPLAY_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def replay_view(self, request: HttpRequest) -> HttpResponse:
        return require_http_methods(["GET", "POST"])(self._replay)(request)

    def _replay(self, request: HttpRequest) -> HttpResponse:
        """GET: the form (``?order=<id>`` fills the order in). POST: the replay
        (``services.events_replay``), then the endpoints' page with what was sent."""
        if not request.user.has_perm(REPLAY_PERMISSION):
            raise PermissionDenied("You may not replay order events.")
        endpoints = selectors.endpoints_visible_to(request.user).filter(enabled=True).select_related("owner")
        queues, queues_error = [], ""
        try:
            queues = selectors.queue_subscribers_visible_to(request.user)
        except Exception as exc:  # SNS or Lambda did not answer: endpoints can still be replayed to
            logger.warning("could not list the queue subscribers: %s", exc)
            queues_error = f"The queue subscribers could not be listed ({type(exc).__name__}); endpoints only."
        data = request.POST if request.method == "POST" else None
        form = ReplayForm(data, endpoints=endpoints, queues=queues, initial={"order_id": request.GET.get("order")})
        if form.is_valid():
            chosen_endpoints, chosen_queues = form.chosen(endpoints)
            try:
                result = services.events_replay(
                    endpoints=chosen_endpoints,
                    queues=chosen_queues,
                    actor=request.user,
                    order_id=form.cleaned_data["order_id"],
                    since=form.cleaned_data["since"],
                    until=form.cleaned_data["until"],
                    source=CONSOLE,
                )
            except services.WebhookRefused as exc:
                form.add_error(None, str(exc))
            else:
                sent = "; ".join(f"{count} messages to {name}" for name, count in result["queues"].items())
                messages.success(
                    request,
                    f"Replayed {result['events']} events: {result['deliveries']} webhook deliveries queued"
                    + (f"; {sent}" if sent else "")
                    + ". Event ids are unchanged, so receivers drop what they already have.",
                )
                return HttpResponseRedirect(reverse("admin:webhooks_endpoint_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Replay order events",
            "form": form,
            "queues_error": queues_error,
            "unsupported": [q for q in queues if q.unsupported],
        }
        return TemplateResponse(request, "admin/webhooks/endpoint/replay.html", context)

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
