"""``{% load console_time %}``: ``{{ moment|ago }}`` and ``{{ start|duration }}`` or
``{{ start|duration:end }}`` (console.platform.timefmt). Like Django's own time filters, a missing
or unusable value renders as nothing."""

from django import template

from console.platform import timefmt

register = template.Library()


@register.filter
def ago(moment) -> str:
    try:
        return timefmt.ago(moment) if moment else ""
    except (TypeError, ValueError):
        return ""


@register.filter
def duration(start, end=None) -> str:
    try:
        return timefmt.duration(start, end or None, depth=2) if start else ""
    except (TypeError, ValueError):
        return ""
