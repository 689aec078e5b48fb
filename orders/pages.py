"""Extension points of the order's console page, for the apps built on orders.

Orders imports none of those apps (they stand above it): each registers what it adds to
the page, and the page asks every registered function, given the order's id.

* Panels (``register_panel``): a function of the order id returning an ``OrderPanel`` (a
  template and its context, shown above the order's fields), or None when it has nothing
  to show. Workflows shows the order's execution and its approvals.
* Timeline sources (``register_timeline_source``): a function of the order id returning
  ``TimelineEntry`` items, merged by time with the order's own events and audit records
  (``orders.selectors.order_timeline``). Workflows adds its steps and approvals.

Register from the app's ``admin`` module: the order page is a console page, and the
console loads every app's admin module before it serves any (on Lambda at the first
console request, elsewhere at start), so the API's cold start loads none of them.
Registering a key again replaces its function. The page runs every function on each
view: each should cost a fixed number of queries, whatever the order's history.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


@dataclass
class TimelineEntry:
    """One thing that happened to an order, for its page's timeline."""

    at: datetime
    kind: str  # "event", "audit", or a source's own kind ("step", "approval")
    title: str
    actor: str = ""
    detail: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPanel:
    """A panel of the order page: ``template``, included in the page with its context as
    ``panel``."""

    template: str
    context: dict


PanelFunction = Callable[[UUID], OrderPanel | None]
TimelineSource = Callable[[UUID], Iterable[TimelineEntry]]

_panels: dict[str, tuple[int, PanelFunction]] = {}
_timeline_sources: dict[str, TimelineSource] = {}


def register_panel(*, key: str, panel: PanelFunction, order: int = 100) -> None:
    """Show ``panel(order_id)`` on every order's page, panels in ``order`` (then key)."""
    _panels[key] = (order, panel)


def register_timeline_source(*, key: str, source: TimelineSource) -> None:
    """Merge ``source(order_id)``'s entries into every order's timeline."""
    _timeline_sources[key] = source


def order_panels(*, order_id: UUID) -> list[OrderPanel]:
    """The order's panels, as their functions make them now (those with nothing to show
    left out)."""
    ordered = sorted(_panels.items(), key=lambda item: (item[1][0], item[0]))
    panels = (panel(order_id) for _, (_, panel) in ordered)
    return [panel for panel in panels if panel is not None]


def order_timeline_sources(*, order_id: UUID) -> list[TimelineEntry]:
    """Every registered source's entries for the order, unsorted."""
    return [entry for source in _timeline_sources.values() for entry in source(order_id)]
