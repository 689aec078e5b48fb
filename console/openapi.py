"""``extend_schema`` for our API views, applied when a schema is generated.

drf-spectacular's ``@extend_schema`` builds a subclass of the view's schema class as it
decorates, so importing any decorated API module imports the whole schema generator
(``drf_spectacular.openapi`` and, through it, ``django.test``, ``unittest`` and DRF's own
schema modules): about a tenth of a Lambda cold start, for requests that never generate a
schema. This ``extend_schema`` takes the same arguments, records each decoration in order
and returns the view unchanged; ``apply_pending()`` makes the recorded decorations with
drf-spectacular's decorator, in the order they were made, so the result is the same as
decorating at import. The schema generator (``console.schema.SchemaGenerator``, set as
``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``, so the schema view, the ``spectacular``
command and drf-spectacular's system check all use it) calls it before it reads any view;
once it has run, decorations are made at once. A schema generated with drf-spectacular's
own generator class would miss decorations not yet made.
"""

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_pending: list[tuple[Any, tuple, dict]] = []
_applied = False


def extend_schema(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """drf_spectacular.utils.extend_schema, deferred until a schema is generated."""

    def decorator(view: Any) -> Any:
        with _lock:
            if not _applied:
                _pending.append((view, args, kwargs))
                return view
        return _decorate(view, args, kwargs)

    return decorator


def apply_pending() -> None:
    """Make every recorded decoration now, in order; later ones are made as they come."""
    global _applied
    with _lock:
        pending = list(_pending)
        _pending.clear()
        _applied = True
    for view, args, kwargs in pending:
        _decorate(view, args, kwargs)


def _decorate(view: Any, args: tuple, kwargs: dict) -> Any:
    from drf_spectacular.utils import extend_schema as spectacular_extend_schema

    return spectacular_extend_schema(*args, **kwargs)(view)
