"""``extend_schema`` for our API views, applied when a schema is generated.

drf-spectacular's ``@extend_schema`` builds a subclass of the view's schema class as it
decorates, so importing any decorated API module imports the whole schema generator
(``drf_spectacular.openapi`` and, through it, ``django.test``, ``unittest`` and DRF's own
schema modules): about a tenth of a Lambda cold start, for requests that never generate a
schema. This ``extend_schema`` takes the same arguments, records each decoration in order
and returns the view unchanged; ``apply_pending()`` makes the recorded decorations with
drf-spectacular's decorator, in the order they were made, so the result is the same as
decorating at import. The schema generator (``console.api.schema.SchemaGenerator``, set as
``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``, so the schema view, the ``spectacular``
command and drf-spectacular's system check all use it) calls it before it reads any view;
once it has run, decorations are made at once, as they are from the start under SnapStart
(where imports cost a restore nothing: console.runtime.snapstart). A schema generated with drf-spectacular's
own generator class would miss decorations not yet made.

The schema pieces every API module shares live here too: the problem shape
(``ProblemSerializer``, ``PROBLEM``), the page envelope of a list that is not its view's
``pagination_class`` (``paginated``), and the postprocessing hook that documents the
errors every route can answer (``add_error_responses``). None of them imports
drf-spectacular's generator.
"""

import threading
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from console.runtime import snapstart

_lock = threading.Lock()
_pending: list[tuple[Any, tuple, dict]] = []
_applied = snapstart.enabled()


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


# --- The problem shape and pages -------------------------------------------------------------


class ProblemSerializer(serializers.Serializer):
    """The error body of every endpoint (RFC 9457 problem details; console.api.rest.problem)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="ours (invalid, not_found, conflict, ...) or, for AWS errors, AWS's code")
    detail = serializers.CharField(required=False)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="messages by field path (items.0.quantity); _ for the input as a whole",
    )
    awsRequestId = serializers.CharField(required=False, help_text="the request id of the AWS call that failed")


PROBLEM = OpenApiResponse(ProblemSerializer, description="Problem details")
# Answers a route documents besides its own, in the problem shape.
BAD_INPUT = OpenApiResponse(PROBLEM.response, description="Invalid input: `errors` names each field and what is wrong.")
FORBIDDEN = OpenApiResponse(PROBLEM.response, description="The user may not do this (a permission is missing).")


# --- Errors every route can answer ------------------------------------------------------------
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
_ERRORS = {
    "400": "Invalid input: `errors` names each field (a body that is not JSON, too large or nested too deep "
    "names none).",
    "404": "No such resource (or not one this caller may see).",
    "406": "The Accept header allows no representation this route has.",
    "415": "The body is not application/json.",
    "502": "AWS failed or refused the call made for this request (`code` is AWS's error code).",
    "503": "AWS throttled or could not be reached: retry after the Retry-After header's seconds.",
}


def add_error_responses(result, generator, request, public):
    """A drf-spectacular postprocessing hook: every operation documents, in the problem
    shape, the errors the framework can answer for it whatever the view says: 400 when it
    takes a body or query parameters, 404 when its path names a resource, 415 when it takes
    a body, 406 always (content negotiation), and 502/503 always (AWS, or on Lambda the
    function behind API Gateway). 401, 403 and 429 come from console.api.schema's hook; 405 is
    the answer to a method the path does not list."""
    if "Problem" not in result.get("components", {}).get("schemas", {}):
        return result
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            query = any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))
            body = "requestBody" in operation
            wanted = ["406", "502", "503"]
            if body or query:
                wanted.append("400")
            if "{" in path:
                wanted.append("404")
            if body:
                wanted.append("415")
            responses = operation.setdefault("responses", {})
            for code in wanted:
                responses.setdefault(code, {"description": _ERRORS[code], "content": content})
            if "503" in wanted:
                responses["503"].setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before trying again.",
                }
            operation["responses"] = dict(sorted(responses.items()))
    return result
