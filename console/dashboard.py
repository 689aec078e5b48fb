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
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.module_loading import autodiscover_modules

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
