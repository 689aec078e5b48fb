"""Keyset ("cursor") pagination: pages that cost the same at any depth.

A page is "the next N rows after (value, id)" in the list's order, answered by an index
range scan on (ordering field, id) with a row comparison. There is no OFFSET (whose cost
grows with depth) and no COUNT (whose cost grows with the table). DRF's own
CursorPagination keys on the ordering field alone and adds an OFFSET past rows that share
its value; keying on (value, id) needs no offset, whatever the ties.

``KeysetPagination`` serves the REST API; ``keyset_chunks`` walks a whole queryset in the
same way for exports.
"""

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


@dataclass(frozen=True)
class Ordering:
    field: str
    descending: bool

    @classmethod
    def of(cls, queryset: QuerySet, default: str) -> "Ordering":
        """The queryset's first ordering term (``default`` when it has none)."""
        terms = [term for term in queryset.query.order_by if isinstance(term, str)] or [default]
        first = terms[0]
        return cls(first.lstrip("-"), first.startswith("-"))

    @property
    def label(self) -> str:
        return ("-" if self.descending else "") + self.field

    def order_by(self, *, reverse: bool = False) -> list[str]:
        descending = self.descending != reverse
        sign = "-" if descending else ""
        return [f"{sign}{self.field}", f"{sign}pk"]

    def after(self, queryset: QuerySet, value, pk, *, reverse: bool = False) -> QuerySet:
        """Rows that come after (value, pk) in this order (before it when ``reverse``)."""
        lookup = TupleLessThan if self.descending != reverse else TupleGreaterThan
        return queryset.filter(lookup(Tuple(F(self.field), F("pk")), (value, pk)))


def _field(queryset: QuerySet, name: str):
    return queryset.model._meta.get_field(name)


def _encode(ordering: Ordering, row, *, backwards: bool) -> str:
    field = row._meta.get_field(ordering.field)
    payload = {
        "o": ordering.label,
        "v": field.value_to_string(row),
        "k": str(row.pk),
        "b": backwards,
    }
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _invalid_cursor() -> ValidationError:
    return ValidationError({"cursor": ["Invalid cursor: use the next or previous link of a page as it is."]})


def _decode(token: str, queryset: QuerySet, ordering: Ordering) -> tuple[object, object, bool]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if payload["o"] != ordering.label:
            raise ValidationError(
                {"cursor": ["This cursor belongs to another ordering: start again from the first page."]}
            )
        value = _field(queryset, ordering.field).to_python(payload["v"])
        pk = queryset.model._meta.pk.to_python(payload["k"])
        return value, pk, bool(payload.get("b"))
    except ValidationError:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, DjangoValidationError, UnicodeDecodeError):
        raise _invalid_cursor() from None


class KeysetPagination(BasePagination):
    """``?cursor=`` and ``?limit=`` (1 to ``max_page_size``; anything else is a 400 naming
    ``limit``, as is a cursor this list did not make). Answers
    ``{"next": url|null, "previous": url|null, "results": [...]}``.

    A view that calls the paginator itself sets it as its ``pagination_class`` too:
    drf-spectacular then documents the page (``get_paginated_response_schema``) and its
    parameters (``get_schema_operation_parameters``) instead of a bare array."""

    cursor_query_param = "cursor"
    page_size_query_param = "limit"
    page_size = 50
    max_page_size = 200
    default_ordering = "-created_at"

    def _page_size(self, request) -> int:
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
        self.request = request
        self.base_url = request.build_absolute_uri()
        size = self._page_size(request)
        ordering = Ordering.of(queryset, self.default_ordering)
        token = request.query_params.get(self.cursor_query_param)
        backwards = False
        if token:
            value, pk, backwards = _decode(token, queryset, ordering)
            queryset = ordering.after(queryset, value, pk, reverse=backwards)
        rows = list(queryset.order_by(*ordering.order_by(reverse=backwards))[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
            has_next, has_previous = True, more
        else:
            has_next, has_previous = more, bool(token)
        self.next_cursor = _encode(ordering, rows[-1], backwards=False) if rows and has_next else None
        self.previous_cursor = _encode(ordering, rows[0], backwards=True) if rows and has_previous else None
        return rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def get_next_link(self):
        return self._link(self.next_cursor)

    def get_previous_link(self):
        return self._link(self.previous_cursor)

    def get_first_link(self):
        return remove_query_param(self.base_url, self.cursor_query_param)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

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
    order = Ordering(ordering.lstrip("-"), ordering.startswith("-"))
    after = None
    while True:
        page = queryset if after is None else order.after(queryset, *after)
        rows = list(page.order_by(*order.order_by())[:chunk_size])
        if not rows:
            return
        yield rows
        if len(rows) < chunk_size:
            return
        last = rows[-1]
        after = (getattr(last, order.field), last.pk)
