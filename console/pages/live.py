"""Live pages: parts of a console page that update in place, by polling with ETags.

A template marks a region (``{% load console_live %}{% live "inbox" %}...{% endlive %}``).
With JavaScript, htmx polls the page's own URL for it every ``LIVE_POLL_SECONDS`` with the
headers ``X-Live-Region: inbox`` and ``If-None-Match: <the region's ETag>``
(console/static/console/live.js). The view runs as for any request, permissions and all;
this middleware then answers with that region alone and a strong ETag of its content, or
``304 Not Modified`` with no body when nothing in it changed. Polling, not a socket,
because the console runs behind API Gateway on Lambda: an idle open page costs one small
request and a 304 every few seconds, and nothing while its tab is hidden.

The ETag is a hash of the region's HTML with what differs between two renders of the same
data removed (the CSRF token's mask, the response's CSP nonce, presigned links' signatures), so an unchanged region
always answers 304, and any change to what it shows (a row, a status, "3 min ago" becoming
"4 min ago") answers 200.

A view may answer before rendering (``live_not_modified``): it passes a cheap fingerprint of
what the region shows (one aggregate query); the ETag the last render produced for that
fingerprint is kept in the cache, and a poll that already has it gets its 304 without the
page being rendered. A miss only means a render.

Without JavaScript, the region is plain HTML and the page is the same page.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control

from console.platform.live import LIVE_HEADER, live_region_requested

# What changes between two renders of the same data: the CSRF token's mask, the CSP nonce,
# and the signing time and signature of presigned S3 links (media thumbnails).
_NOISE = [
    re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")'),
    re.compile(r'( nonce=")[^"]*(")'),
    re.compile(r'((?:X-Amz-(?:Date|Expires|Signature|Credential|Security-Token)|Signature|Expires)=)[^&"\s<]*()'),
]
# Remembered fingerprints outlive a few minutes of polls, no more: a miss is only a render.
_VERSION_SECONDS = 300


@dataclass
class RenderedRegion:
    name: str
    html: str
    etag: str


def region_etag(name: str, html: str) -> str:
    """The strong ETag (quoted) of a region's HTML."""
    for pattern in _NOISE:
        html = pattern.sub(r"\1\2", html)
    digest = hashlib.blake2b(f"{name}\n{html}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def poll_seconds() -> int:
    return max(1, int(getattr(settings, "LIVE_POLL_SECONDS", 3)))


def region_rendered(request: HttpRequest, region: RenderedRegion) -> None:
    """Called by the template tag: the region as this request rendered it."""
    regions = getattr(request, "_live_regions", None)
    if regions is None:
        regions = request._live_regions = {}
    regions.setdefault(region.name, region)


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    sent = request.META.get("HTTP_IF_NONE_MATCH", "")
    return etag in [candidate.strip() for candidate in sent.split(",")]


def _not_modified(etag: str) -> HttpResponse:
    response = HttpResponseNotModified()
    response["ETag"] = etag
    _no_store(response)
    return response


def _no_store(response: HttpResponse) -> None:
    # The browser must not cache a region: it would answer our If-None-Match itself and hand
    # htmx a 200 with the cached body, which htmx would swap in for nothing.
    patch_cache_control(response, no_store=True, private=True)


def _version_key(request: HttpRequest, region: str, fingerprint: str) -> str:
    raw = f"{request.user.pk}\n{request.get_full_path()}\n{region}\n{fingerprint}"
    return "live:" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def live_not_modified(request: HttpRequest, *, fingerprint: Callable[[], str]) -> HttpResponse | None:
    """For a view, after its permission checks and before it renders: the 304 for a live
    poll whose region was rendered for this same fingerprint (the user, the URL and the
    region are part of the key), or None to go on and render. ``fingerprint()`` is called
    for live polls only, and must change whenever the region would: include a time bucket
    when the region shows relative times."""
    region = live_region_requested(request)
    if region is None:
        return None
    key = _version_key(request, region, fingerprint())
    request._live_version_key = key
    etag = cache.get(key)
    if etag and _etag_matches(request, etag):
        return _not_modified(etag)
    return None


class LiveRegionMiddleware:
    """Turns a live poll's full response into its region: 200 with the region's HTML, or 304.

    Anything but a 200 with the region in it is not a region: a redirect (a session that
    ended, an object that moved) answers ``HX-Refresh`` so the page reloads and shows where
    it leads; an error status passes through, and htmx swaps nothing in for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        name = live_region_requested(request)
        if name is None:
            return response
        if response.status_code == 304:
            return response
        if response.status_code in (301, 302, 303, 307, 308):
            return _reload()
        if response.status_code != 200:
            return response
        region = getattr(request, "_live_regions", {}).get(name)
        if region is None:
            return _reload()
        # The poll rendered the whole page; its messages are still the next page's to show.
        storage = getattr(request, "_messages", None)
        if storage is not None:
            storage.used = False
        key = getattr(request, "_live_version_key", None)
        if key:
            cache.set(key, region.etag, _VERSION_SECONDS)
        if _etag_matches(request, region.etag):
            return _not_modified(region.etag)
        answer = HttpResponse(region.html, content_type="text/html; charset=utf-8")
        answer["ETag"] = region.etag
        answer["Vary"] = LIVE_HEADER
        _no_store(answer)
        return answer


def _reload() -> HttpResponse:
    response = HttpResponse(status=204)
    response["HX-Refresh"] = "true"
    _no_store(response)
    return response
