"""Live pages, the part every layer may ask about: is this request a live region's poll?

A live region (``{% live %}``, console.pages.live) polls its own page with the header
``X-Live-Region: <name>``. Such a poll is not the operator doing anything, so it must not
count as activity: the session middleware below neither saves the session nor renews its
cookie for it, and an open tab no one touches still ends at ``CONSOLE_SESSION_IDLE_SECONDS``
(its next poll then reloads the page, which lands on the login).
"""

import re

from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse

LIVE_HEADER = "X-Live-Region"
_META_KEY = "HTTP_X_LIVE_REGION"
# Region names are template literals: short slugs, so a header never reaches a cache key or
# the page as anything else.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def live_region_requested(request: HttpRequest) -> str | None:
    """The region a live poll asks for, or None for an ordinary request (GET only: a form
    posted by a region's page is never a poll)."""
    name = request.META.get(_META_KEY)
    if not name or request.method != "GET" or not _NAME.match(name):
        return None
    return name


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, except that a live poll leaves the session as it was:
    no save (one UPDATE less per poll) and no renewed cookie (the idle limit holds)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if live_region_requested(request):
            return response
        return super().process_response(request, response)
