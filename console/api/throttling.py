"""Per-client API throttling: a token bucket per client, shared by every process.

The reference architecture's API Gateway stage allows 50 requests/s with bursts of 100. We enforce that per
API client, not per stage:

* a client is the authenticated user behind the bearer token (all of a client's tokens
  share one bucket); an unauthenticated caller is its source address;
* the bucket is one database row updated by a single atomic upsert. On Lambda, every
  concurrent request may run in its own instance, so a counter in process memory (or in a
  per-instance cache such as DRF's default LocMemCache) would multiply the limit by the
  number of warm instances. The database is what the instances share; one small upsert
  per request costs less than a millisecond there. Redis or DynamoDB would do as well at a
  higher request rate; this keeps the stack as it is.

A refused request gets 429 with ``Retry-After`` (seconds until a token is back).
"""

import math
import time

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from console.models import ThrottleBucket
from console.platform.access import client_ip

_TABLE = ThrottleBucket._meta.db_table


def _upsert_sql(vendor: str, *, unflushed: bool) -> str:
    # SQLite spells LEAST/GREATEST as the scalar MIN/MAX.
    least, greatest = ("LEAST", "GREATEST") if vendor == "postgresql" else ("MIN", "MAX")
    refill = f"{least}(%(burst)s, b.tokens + %(rate)s * {greatest}(0, %(now)s - b.updated))"
    # PostgreSQL, in autocommit: the statement is its own transaction, and set_config(...,
    # true) makes it commit without waiting for the write-ahead log to reach the disk. That
    # wait is most of the upsert's cost (about 4 ms of 4.4 here); a crash can lose the last
    # fraction of a second of bucket updates, which at worst lets a client through early.
    source = " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed" if unflushed else ""
    # A request takes a token if one is there; otherwise the row is left alone and nothing
    # is returned (tokens keep accruing from ``updated``).
    return (
        f'INSERT INTO {_TABLE} AS b ("key", tokens, updated) SELECT %(key)s, %(burst)s - 1, %(now)s{source} WHERE true '
        f'ON CONFLICT ("key") DO UPDATE SET tokens = {refill} - 1, updated = {greatest}(b.updated, %(now)s) '
        f"WHERE {refill} >= 1 RETURNING tokens"
    )


def bucket_take(*, key: str, rate: float, burst: int, now: float | None = None) -> float:
    """Take one token from ``key``'s bucket. Returns 0 if taken, otherwise the seconds until
    a token is available. Atomic: concurrent callers on any number of processes never take
    more than ``burst`` tokens plus what ``rate`` refilled."""
    now = time.time() if now is None else now
    params = {"key": key, "rate": rate, "burst": burst, "now": now}
    # Never inside someone else's transaction: it would make their commit unflushed too.
    unflushed = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor, unflushed=unflushed), params)
        if cursor.fetchone() is not None:
            return 0.0
        cursor.execute(f'SELECT tokens, updated FROM {_TABLE} WHERE "key" = %s', [key])
        row = cursor.fetchone()
    tokens, updated = row if row else (0.0, now)
    available = min(burst, tokens + rate * max(0.0, now - updated))
    return max(0.0, (1 - available) / rate)


class ClientRateThrottle(BaseThrottle):
    """DRF throttle over ``bucket_take``; rate and burst from settings
    ``API_THROTTLE_RATE`` (requests per second) and ``API_THROTTLE_BURST``."""

    def get_key(self, request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{client_ip(request) or 'unknown'}"

    def allow_request(self, request, view) -> bool:
        self._wait = bucket_take(
            key=self.get_key(request), rate=settings.API_THROTTLE_RATE, burst=settings.API_THROTTLE_BURST
        )
        return self._wait == 0

    def wait(self) -> int:
        # Retry-After is whole seconds; never tell a client to retry at once.
        return max(1, math.ceil(self._wait))
