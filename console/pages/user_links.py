"""Who did something, on a console page: the user's name, linked to their user page only for
a reader who may open it.

Django's admin links every read-only foreign key to the related object's page, whoever
reads it: an operator who followed the requester or the decider of an approval, or the
uploader of a file, got a 403. ``UserLinksMixin`` shows those fields as the user's name,
with the link only where the user admin would let the reader in.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html


def may_view_users(request: HttpRequest, admin_site) -> bool:
    """Whether the reader may open a user's page (the user admin's own view check)."""
    memo = request.__dict__.setdefault("_may_view_users", {})
    if admin_site.name not in memo:
        user_admin = admin_site._registry.get(get_user_model())
        memo[admin_site.name] = bool(user_admin and user_admin.has_view_permission(request))
    return memo[admin_site.name]


def user_display(user, *, request: HttpRequest, admin_site) -> str:
    """The user's name, a link to their page for a reader who may open it; "-" for nobody."""
    if user is None:
        return "-"
    name = user.get_username()
    if not may_view_users(request, admin_site):
        return name
    try:
        url = reverse(f"{admin_site.name}:auth_user_change", args=[user.pk])
    except NoReverseMatch:
        return name
    return format_html('<a href="{}">{}</a>', url, name)


class UserLinksMixin:
    """For a ``ModelAdmin`` whose pages show foreign keys to users read-only: each is shown
    by ``user_display`` instead of Django's link for everyone.

    The fields are replaced, in the fieldsets and the read-only fields alike, by display
    functions made once per request (the form and the page must see the same objects);
    each keeps the field's name, so the page's ``field-<name>`` classes stay as they were.
    An admin that builds its own fieldsets passes them through ``with_user_links``.
    """

    def get_fieldsets(self, request, obj=None):
        return self.with_user_links(request, super().get_fieldsets(request, obj), obj)

    def get_readonly_fields(self, request, obj=None):
        return self.user_fields_in(request, super().get_readonly_fields(request, obj))

    def with_user_links(self, request: HttpRequest, fieldsets: Sequence, obj=None) -> list:
        """The fieldsets with their read-only user fields shown by ``user_display`` (a user
        field the reader may edit stays the form's field)."""
        readonly = None  # a reader who may not change the object reads every field
        if self.has_change_permission(request, obj):
            readonly = {getattr(field, "__name__", field) for field in self.get_readonly_fields(request, obj)}
        return [
            (name, {**options, "fields": self.user_fields_in(request, options.get("fields", []), only=readonly)})
            for name, options in fieldsets
        ]

    def user_fields_in(self, request: HttpRequest, fields: Sequence, *, only: set | None = None) -> list:
        """``fields`` (names, or tuples of names on one line) with the user fields among
        them (among ``only``, when given) replaced by their per-request display."""
        shown: list[Any] = []
        for field in fields:
            if isinstance(field, (list, tuple)):
                shown.append(tuple(self.user_fields_in(request, field, only=only)))
            elif self._is_user_field(field) and (only is None or field in only):
                shown.append(self._user_field(request, field))
            else:
                shown.append(field)
        return shown

    def _is_user_field(self, name: Any) -> bool:
        if not isinstance(name, str):
            return False
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:  # a ModelAdmin method or attribute
            return False
        return bool(field.is_relation and field.many_to_one and field.related_model is get_user_model())

    def _user_field(self, request: HttpRequest, name: str) -> Callable:
        memo = request.__dict__.setdefault("_user_link_fields", {})
        key = (self.model._meta.label_lower, name)
        if key not in memo:
            field = self.model._meta.get_field(name)
            admin_site = self.admin_site

            def show(obj) -> str:
                return user_display(getattr(obj, name), request=request, admin_site=admin_site)

            show.__name__ = name
            show.short_description = field.verbose_name
            memo[key] = show
        return memo[key]
