"""Functions the routing tests map events to (a test's own entries in ``events``)."""

from typing import Any

received: list[tuple[str, Any]] = []


def record_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    received.append(("event", event))
    return {"handled": len(event.get("Records", [])) or 1}


def remember(*args: Any, **kwargs: Any) -> dict[str, Any]:
    received.append(("task", {"args": list(args), "kwargs": kwargs}))
    return {"args": list(args), "kwargs": kwargs}
