"""``{% load console_live %}{% live "name" %}...{% endlive %}``: a live region (console.pages.live).

Renders its content inside ``<div id="live-<name>" data-live-region="<name>">`` with the
region's ETag and, on a page served to a GET, htmx's polling attributes. ``every=<seconds>``
slows a region down where its page costs more to render (default ``LIVE_POLL_SECONDS``).
Regions do not nest, and a region holds no inline script (a swapped-in script would not
carry the page's CSP nonce).
"""

import json

from django import template
from django.utils.html import format_html

from console.pages.live import RenderedRegion, poll_seconds, region_etag, region_rendered

register = template.Library()


class LiveNode(template.Node):
    def __init__(self, name, every, nodelist):
        self.name = name
        self.every = every
        self.nodelist = nodelist

    def render(self, context) -> str:
        name = self.name.resolve(context)
        inner = self.nodelist.render(context)
        etag = region_etag(name, inner)
        request = context.get("request")
        polling = ""
        if request is not None and request.method == "GET":
            seconds = int(self.every.resolve(context)) if self.every else poll_seconds()
            polling = format_html(
                ' hx-get="{}" hx-trigger="every {}s, live-refresh" hx-swap="outerHTML" hx-headers="{}"',
                request.get_full_path(),
                seconds,
                json.dumps({"X-Live-Region": name}),
            )
        html = format_html(
            '<div id="live-{}" class="live-region" data-live-region="{}" data-live-etag="{}"{}>{}</div>',
            name,
            name,
            etag,
            polling,
            inner,
        )
        if request is not None:
            region_rendered(request, RenderedRegion(name=name, html=html, etag=etag))
        return html


@register.tag("live")
def live(parser, token):
    bits = token.split_contents()
    if len(bits) not in (2, 3):
        raise template.TemplateSyntaxError('{% live "name" [every=seconds] %}')
    name = parser.compile_filter(bits[1])
    every = None
    if len(bits) == 3:
        key, _, value = bits[2].partition("=")
        if key != "every" or not value:
            raise template.TemplateSyntaxError('{% live "name" every=seconds %}')
        every = parser.compile_filter(value)
    nodelist = parser.parse(("endlive",))
    parser.delete_first_token()
    return LiveNode(name, every, nodelist)
