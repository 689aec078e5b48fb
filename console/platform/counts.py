"""Row counts for console lists that stay cheap on big tables.

``COUNT(*)`` reads every matching row: on a million orders that is most of a page's time.
``EstimatedCountPaginator`` counts at most ``CONSOLE_EXACT_COUNT_LIMIT + 1`` rows (an exact
count when the list is small, which filtered lists usually are) and, past that, takes
PostgreSQL's estimate: ``pg_class.reltuples`` for a whole table, the planner's row
estimate for a filtered one. The changelist then says "about 1,000,000 orders".
"""

import json

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    #: True when ``count`` is an estimate (the template shows "about").
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        limit = settings.CONSOLE_EXACT_COUNT_LIMIT
        bounded = queryset.order_by()[: limit + 1].count()
        if bounded <= limit:
            return bounded
        estimate = planner_estimate(queryset)
        if estimate is None:
            # Not PostgreSQL (local SQLite): small data, count it.
            return queryset.count()
        self.estimated = True
        return max(estimate, limit + 1)


def planner_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of how many rows ``queryset`` returns, or None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    queryset = queryset.order_by()
    with connection.cursor() as cursor:
        if not queryset.query.where:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
            )
            row = cursor.fetchone()
            if row and row[0] >= 0:  # -1: never analysed
                return int(row[0])
        sql, params = queryset.values("pk").query.sql_with_params()
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])
