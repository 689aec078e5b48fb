"""Cursor pagination for the REST API: DRF's ``CursorPagination``, positioned on (value, id).

DRF's class positions a page on the first ordering field's value alone and steps over rows
sharing it with an OFFSET, capped at ``offset_cutoff`` (1,000). Ours share it often: an
order CSV import on PostgreSQL writes a chunk (16 MB, some 200,000 orders) with one
``created_at`` (``now()``, orders/imports/bulk_postgres.py); totals repeat. In such a run
DRF's pages grow an OFFSET and, past 1,000 tied rows, its next link repeats a page for
ever. So the position here is (value, id), filtered as a row comparison
``(created_at, id) < (%s, %s)`` that an index on (created_at, id) answers with a range
scan, whatever the ties. Positions are then unique, and DRF's next/previous logic never
needs its offset. tests/console/test_pagination.py shows each difference beside DRF's.

Also ours, for the API's contract (docs/api.md, "Pagination"): the ordering is the
queryset's (the selector's, or ``?ordering=`` through the filterset), the id breaking ties;
the cursor names its ordering, and one of another ordering or not made by the list is a
400 naming ``cursor`` (DRF: a 404, and a foreign position applied to whatever field);
``?limit=`` outside 1 to ``max_page_size`` is a 400 naming ``limit`` (DRF quietly pages
otherwise); the documented page requires ``next`` and ``previous``, ``limit`` has bounds.

``keyset_chunks`` walks a whole queryset the same way for exports.
"""

import base64
import binascii
import json
from collections.abc import Iterator

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, Func, QuerySet, Value
from django.db.models.lookups import GreaterThan, LessThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.utils.urls import replace_query_param


class Row(Func):
    """A row value, ``(a, b)``: PostgreSQL and SQLite compare rows left to right."""

    function = ""
    output_field = models.Field()


def after(queryset: QuerySet, ordering: tuple[str, str], position: tuple) -> QuerySet:
    """The rows of ``queryset`` past ``position`` (value, pk) in ``ordering``: (field, pk),
    both ascending or both descending."""
    meta = queryset.model._meta
    field = meta.get_field(ordering[0].lstrip("-"))
    past = LessThan if ordering[0].startswith("-") else GreaterThan
    value, pk = position
    return queryset.filter(
        past(Row(F(field.name), F("pk")), Row(Value(value, output_field=field), Value(pk, output_field=meta.pk)))
    )


def _reversed(ordering: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(term[1:] if term.startswith("-") else f"-{term}" for term in ordering)


class KeysetPagination(CursorPagination):
    """``?cursor=`` and ``?limit=`` (1 to ``max_page_size``; anything else is a 400 naming
    ``limit``, as is a cursor this list did not make). Answers
    ``{"next": url|null, "previous": url|null, "results": [...]}`` in the queryset's order
    (``default_ordering`` when it has none), the id breaking ties.

    A view that calls the paginator itself sets it as its ``pagination_class`` too:
    drf-spectacular then documents the page (``get_paginated_response_schema``) and its
    parameters (``get_schema_operation_parameters``) instead of a bare array."""

    page_size_query_param = "limit"
    page_size = 50
    max_page_size = 200
    default_ordering = "-created_at"

    def get_ordering(self, request, queryset, view) -> tuple[str, str]:
        """The queryset's first ordering term, then the primary key the same way."""
        first = next((term for term in queryset.query.order_by if isinstance(term, str)), self.default_ordering)
        return (first, "-pk" if first.startswith("-") else "pk")

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        # Refused rather than cut to the maximum: the schema says 1 to max_page_size, and a
        # client asking for more should learn it gets less.
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return size

    def paginate_queryset(self, queryset, request, view=None):
        # DRF's, with the position filter on (value, pk) and no offset: positions are unique.
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.model = queryset.model
        self.cursor = self.decode_cursor(request)
        reverse, position = (self.cursor.reverse, self.cursor.position) if self.cursor else (False, None)
        ordering = _reversed(self.ordering) if reverse else self.ordering
        if position is not None:
            queryset = after(queryset, ordering, position)
        results = list(queryset.order_by(*ordering)[: self.page_size + 1])
        self.page = results[: self.page_size]
        following = self._get_position_from_instance(results[-1], ordering) if len(results) > self.page_size else None
        if reverse:
            self.page.reverse()
            self.has_next, self.next_position = position is not None, position
            self.has_previous, self.previous_position = following is not None, following
        else:
            self.has_next, self.next_position = following is not None, following
            self.has_previous, self.previous_position = position is not None, position
        return self.page

    def _get_position_from_instance(self, instance, ordering) -> tuple:
        return (getattr(instance, ordering[0].lstrip("-")), instance.pk)

    def encode_cursor(self, cursor: Cursor) -> str:
        # JSON naming its ordering, where DRF's is a query string of position and offset.
        value, pk = cursor.position
        payload = {"o": self.ordering[0], "v": str(value), "k": str(pk), "b": cursor.reverse}
        token = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return replace_query_param(self.base_url, self.cursor_query_param, token.rstrip("="))

    def decode_cursor(self, request) -> Cursor | None:
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
            if payload["o"] != self.ordering[0]:
                raise ValidationError(
                    {"cursor": ["This cursor belongs to another ordering: start again from the first page."]}
                )
            meta = self.model._meta
            value = meta.get_field(self.ordering[0].lstrip("-")).to_python(payload["v"])
            return Cursor(offset=0, reverse=bool(payload["b"]), position=(value, meta.pk.to_python(payload["k"])))
        except ValidationError:
            raise
        except (ValueError, KeyError, TypeError, binascii.Error, DjangoValidationError, UnicodeDecodeError):
            raise ValidationError(
                {"cursor": ["Invalid cursor: use the next or previous link of a page as it is."]}
            ) from None

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri", "description": "The next page."},
                "previous": {"type": "string", "nullable": True, "format": "uri", "description": "The page before."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: take it from a page's next or previous link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page: 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


def keyset_chunks(queryset: QuerySet, *, ordering: str = "-created_at", chunk_size: int = 2000) -> Iterator[list]:
    """Every row of ``queryset`` in ``ordering`` (then pk), ``chunk_size`` rows per query,
    each query an index range scan: constant memory, no long-lived cursor or transaction
    (so it works through connection poolers such as RDS Proxy)."""
    sign = "-" if ordering.startswith("-") else ""
    order = (ordering, f"{sign}pk")
    position = None
    while True:
        page = queryset if position is None else after(queryset, order, position)
        rows = list(page.order_by(*order)[:chunk_size])
        if not rows:
            return
        yield rows
        if len(rows) < chunk_size:
            return
        last = rows[-1]
        position = (getattr(last, ordering.lstrip("-")), last.pk)
