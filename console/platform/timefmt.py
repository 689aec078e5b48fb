"""How long something took or has been waiting, in the console's words: the largest unit
(or two) from Django's ``timesince`` ("3 hours", "2 days, 4 hours"), and seconds under a
minute, so nothing that just happened reads "0 minutes"."""

from datetime import datetime

from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import ngettext


def duration(start: datetime, end: datetime | None = None, *, depth: int = 1) -> str:
    """The time from ``start`` to ``end`` (now by default): "42 seconds", "5 minutes"."""
    end = end or timezone.now()
    seconds = int((end - start).total_seconds())
    if seconds < 60:
        seconds = max(seconds, 0)  # clocks a little apart
        return ngettext("%(count)d\xa0second", "%(count)d\xa0seconds", seconds) % {"count": seconds}
    return timesince(start, end, depth=depth)


def ago(moment: datetime, now: datetime | None = None, *, depth: int = 1) -> str:
    """The time since ``moment``, as "42 seconds ago" or "5 minutes ago"."""
    return f"{duration(moment, now, depth=depth)} ago"
