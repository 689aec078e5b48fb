"""The console's home page: panels that apps register, shown at a glance to those allowed.

An app adds a panel in its own ``dashboard.py`` (found by autodiscovery)::

    from console.pages.dashboard import Row, register

    @register(key="imports", title="Failed imports", order=50, permission="orders.view_import")
    def failed_imports(request):
        return [Row("orders.csv", 3, reverse(...), tone="bad")]

Panels read the database (or a cache), never AWS: the home page is opened often. Each
panel's rows are cached for ``DASHBOARD_CACHE_SECONDS`` (default 10) per user, and a
panel that fails shows "unavailable" instead of breaking the page.

Charts (``register_chart``) are the exception: their points come from a metrics API
(CloudWatch GetMetricData), so each is read at most once per ``CHART_CACHE_SECONDS`` for
every user, and a chart that cannot be read says so.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.module_loading import autodiscover_modules
from django.utils.text import Truncator

from console.models import AuditEntry
from console.platform.audit import audited_model, audited_ref

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
    entries = list(
        AuditEntry.objects.filter(actor=request.user)
        .order_by("-created_at", "-id")
        .only("created_at", "action", "object_type", "object_id")[:limit]
    )
    keys = defaultdict(set)
    for entry in entries:
        model = audited_model(entry.object_type)
        if model is not None and entry.object_id and _is_pk(model, entry.object_id):
            keys[model].add(entry.object_id)
    found = {
        (model._meta.label_lower, str(obj.pk)): obj
        for model, ids in keys.items()
        for obj in model._default_manager.filter(pk__in=ids)
    }
    actions = []
    for entry in entries:
        name, url = audited_ref(request.user, entry.object_type, entry.object_id)
        model = audited_model(entry.object_type)
        obj = found.get((model._meta.label_lower, entry.object_id)) if model is not None else None
        if obj is None:
            url = ""  # gone since: named by kind and id, not linked
        else:
            name = Truncator(str(obj)).chars(60)
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


# --- Charts: metrics over time, registered by the apps like panels ----------------------------


@dataclass
class Series:
    """One line (or set of bars) of a chart: ``points`` are (epoch milliseconds, value),
    oldest first, as Chart.js's linear time axis and the JSON block take them."""

    label: str
    points: list[tuple[int, float]]
    dashed: bool = False  # a reference line, such as an alarm's threshold
    stepped: bool = False  # a state held until the next change, such as an alarm's state


@dataclass
class Chart:
    """What a chart function returns. ``unit`` names the y axis; ``y_labels`` names its
    values where they are states (0: "OK"...); ``description`` is read by screen readers
    before the data table."""

    series: list[Series]
    unit: str = ""
    kind: str = "line"  # "line" or "bar"
    description: str = ""
    y_labels: dict[int, str] = field(default_factory=dict)
    # The time axis's ends (epoch ms): the window asked for, however few points it holds.
    window: tuple[int, int] | None = None


@dataclass
class ChartSpec:
    key: str
    title: str
    data: Callable[[], Chart]
    order: int = 100
    permission: str | None = None


@dataclass
class RenderedChart:
    key: str
    title: str
    chart: Chart | None = None
    error: str = ""

    @property
    def dom_id(self) -> str:
        return f"chart-{self.key}"

    @property
    def data_id(self) -> str:
        return f"chart-{self.key}-data"

    @property
    def description(self) -> str:
        return self.chart.description if self.chart else ""

    def config(self) -> dict:
        """The JSON block console/static/console/charts.js draws from."""
        chart = self.chart or Chart(series=[])
        return {
            "title": self.title,
            "unit": chart.unit,
            "kind": chart.kind,
            "yLabels": {str(k): v for k, v in chart.y_labels.items()},
            "window": list(chart.window) if chart.window else None,
            "series": [
                {"label": s.label, "points": [[t, v] for t, v in s.points], "dashed": s.dashed, "stepped": s.stepped}
                for s in chart.series
            ],
        }

    def has_points(self) -> bool:
        return bool(self.chart and any(s.points and not s.dashed for s in self.chart.series))

    def table(self) -> dict:
        """The same points as a table (the screen readers' fallback): one row per time, one
        column per series, empty where a series has no point at that time."""
        chart = self.chart or Chart(series=[])
        series = [s for s in chart.series if s.points]
        times = sorted({t for s in series for t, _ in s.points})
        by_series = [dict(s.points) for s in series]
        rows = []
        for t in times:
            values = []
            for points in by_series:
                value = points.get(t)
                values.append("" if value is None else chart.y_labels.get(int(value), f"{value:g}"))
            rows.append((datetime.fromtimestamp(t / 1000, UTC), values))
        return {"columns": [s.label for s in series], "rows": rows}


_CHARTS: dict[str, ChartSpec] = {}


def register_chart(*, key: str, title: str, order: int = 100, permission: str | None = None):
    """Decorator: register ``function() -> Chart`` as a home page chart. Its data is the
    same for everyone allowed to see it, so it is cached once (``CHART_CACHE_SECONDS``,
    default 60) for all: metrics APIs bill per metric read."""

    def decorate(function: Callable[[], Chart]):
        _CHARTS[key] = ChartSpec(key, title, function, order, permission)
        return function

    return decorate


def chart_render(*, key: str, title: str, data: Callable[[], Chart], cache_key: str = "") -> RenderedChart:
    """One chart, from the cache when ``cache_key`` is given and fresh; a chart whose data
    cannot be read says so instead of breaking the page."""
    item = RenderedChart(key, title)
    try:
        chart = cache.get(cache_key) if cache_key else None
        if chart is None:
            chart = data()
            if cache_key:
                cache.set(cache_key, chart, settings.CHART_CACHE_SECONDS)
        item.chart = chart
    except Exception:
        logger.exception("chart %s failed", key)
        item.error = "Unavailable right now: the metrics could not be read."
    return item


def charts_for(request: HttpRequest) -> list[RenderedChart]:
    discover()
    return [
        chart_render(key=spec.key, title=spec.title, data=spec.data, cache_key=f"dashboard-chart:{spec.key}")
        for spec in sorted(_CHARTS.values(), key=lambda s: (s.order, s.key))
        if not spec.permission or request.user.has_perm(spec.permission)
    ]
