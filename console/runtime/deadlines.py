"""How long the running job may still run: its Lambda invocation's time left.

A long job (a redrive, an archive drain, the workflow starter) stops with time to spare
and continues in a new message. A job run by a Celery worker process has no such limit:
outside an invocation these give ``None``. Plain Python, cheap to import: the API
function's handlers read it too.
"""

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("lambda_job_deadline", default=None)


def seconds_left() -> float | None:
    """Seconds until the running job's Lambda invocation times out, or None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def stop_by(margin_seconds: float, context: Any = None) -> float | None:
    """When (``time.monotonic()``) a long job stops to leave ``margin_seconds`` of its Lambda
    invocation, ``context``'s or else the running job's; None outside an invocation."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        return time.monotonic() + remaining() / 1000 - margin_seconds
    deadline = _deadline.get()
    return None if deadline is None else deadline - margin_seconds


@contextlib.contextmanager
def invocation_deadline(context: Any) -> Iterator[None]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    token = _deadline.set(time.monotonic() + remaining() / 1000 if remaining else None)
    try:
        yield
    finally:
        _deadline.reset(token)
