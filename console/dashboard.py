"""The console's home page: panels that apps register, shown at a glance to those allowed.

An app adds a panel in its own ``dashboard.py`` (found by autodiscovery)::

    from console.dashboard import Row, register

    @register(key="imports", title="Failed imports", order=50, permission="media.view_import")
    def failed_imports(request):
        return [Row("orders.csv", 3, reverse(...), tone="bad")]

Panels read the database (or a cache), never AWS: the home page is opened often. Each
panel's rows are cached for ``DASHBOARD_CACHE_SECONDS`` (default 10) per user, and a
panel that fails shows "unavailable" instead of breaking the page.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.module_loading import autodiscover_modules
from django.utils.text import Truncator

logger = logging.getLogger(__name__)


@dataclass
class Row:
    label: str
    value: int | str
    url: str = ""
    tone: str = ""  # "", "ok", "warn" or "bad"
    detail: str = ""


@dataclass
class Panel:
    key: str
    title: str
    rows: Callable[[HttpRequest], list[Row]]
    order: int = 100
    permission: str | None = None
    url: Callable[[], str] | None = None
    empty: str = "Nothing here."


@dataclass
class RenderedPanel:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    url: str = ""
    empty: str = ""
    error: str = ""


_PANELS: dict[str, Panel] = {}
_discovered = False


def register(
    *,
    key: str,
    title: str,
    order: int = 100,
    permission: str | None = None,
    url: Callable[[], str] | None = None,
    empty: str = "Nothing here.",
):
    """Decorator: register ``function(request) -> list[Row]`` as a panel (re-registering
    a key replaces it)."""

    def decorate(function: Callable[[HttpRequest], list[Row]]):
        _PANELS[key] = Panel(key, title, function, order, permission, url, empty)
        return function

    return decorate


def discover() -> None:
    global _discovered
    if not _discovered:
        autodiscover_modules("dashboard")
        _discovered = True


def panels_for(request: HttpRequest) -> list[RenderedPanel]:
    discover()
    seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 10)
    rendered = []
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.key)):
        if panel.permission and not request.user.has_perm(panel.permission):
            continue
        item = RenderedPanel(panel.key, panel.title, url=panel.url() if panel.url else "", empty=panel.empty)
        cache_key = f"dashboard:{panel.key}:{request.user.pk}"
        try:
            rows = cache.get(cache_key)
            if rows is None:
                rows = panel.rows(request)
                cache.set(cache_key, rows, seconds)
            item.rows = rows
        except Exception:
            logger.exception("dashboard panel %s failed", panel.key)
            item.error = "Unavailable right now."
        rendered.append(item)
    return rendered


# --- The home page's sidebar: what this user did lately ---------------------------------------


@dataclass
class MyAction:
    when: object
    target: str
    url: str
    action: str


def my_recent_actions(request: HttpRequest, limit: int = 10) -> list[MyAction]:
    """The user's latest entries in the audit log (approvals, redrives, imports, notes...),
    each named as its page names it and linked there where the user may see it. Django's
    own "Recent actions" only lists edits made through admin forms, which the console's
    actions are not. One query for the entries, then one per kind of object among them."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    from console.models import AuditEntry

    entries = list(
        AuditEntry.objects.filter(actor=request.user)
        .order_by("-created_at", "-id")
        .only("created_at", "action", "object_type", "object_id")[:limit]
    )
    models, ids = {}, defaultdict(set)
    for entry in entries:
        try:
            models[entry.object_type] = apps.get_model(entry.object_type)
        except (LookupError, ValueError):
            continue
        if entry.object_id:
            ids[entry.object_type].add(entry.object_id)
    found: dict[str, dict[str, object]] = {}
    for object_type, keys in ids.items():
        model = models[object_type]
        objects = model._default_manager.filter(pk__in=[key for key in keys if _is_pk(model, key)])
        found[object_type] = {str(obj.pk): obj for obj in objects}

    actions = []
    for entry in entries:
        model, obj = models.get(entry.object_type), found.get(entry.object_type, {}).get(entry.object_id)
        short_id = entry.object_id[:8] if len(entry.object_id) == 36 else entry.object_id  # a UUID, as lists show it
        if obj is not None:
            name = Truncator(str(obj)).chars(60)
        elif model is not None:
            name = f"{model._meta.verbose_name.capitalize()} {short_id}".strip()  # since deleted
        else:
            name = f"{entry.object_type} {short_id}".strip()
        url = ""
        if obj is not None and request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"):
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
            except NoReverseMatch:
                pass
        actions.append(MyAction(entry.created_at, name, url, _verb(entry.action)))
    return actions


def _is_pk(model, value: str) -> bool:
    """Whether ``value`` can be a primary key of ``model`` (audit ids are free text)."""
    try:
        model._meta.pk.to_python(value)
    except (ValueError, ValidationError):
        return False
    return True


def _verb(action: str) -> str:
    """The action's verb: "approval.first_approve" is "first approve"."""
    return (action.partition(".")[2] or action).replace("_", " ").replace(".", " ")
