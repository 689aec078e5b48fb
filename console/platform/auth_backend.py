"""Django's ModelBackend, reading a user's permissions in one query instead of two.

Every API request and console page checks model permissions, and Django's ModelBackend
answers a request's first check with two queries: the user's own permissions, then their
groups'. This backend asks for both at once (one UNION of the same two querysets Django
uses); what it answers, and the per-user caches it fills, are Django's."""

from typing import Any

from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.db.models import CharField, Value

_FIELDS = ("source", "content_type__app_label", "codename")


class ModelBackend(DjangoModelBackend):
    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser or hasattr(user_obj, "_perm_cache"):
            return super().get_all_permissions(user_obj, obj)  # every permission, or cached
        own = self._get_user_permissions(user_obj).annotate(source=Value("user", output_field=CharField()))
        groups = self._get_group_permissions(user_obj).annotate(source=Value("group", output_field=CharField()))
        rows = own.values_list(*_FIELDS).order_by().union(groups.values_list(*_FIELDS).order_by(), all=True).order_by()
        found: dict[str, set[str]] = {"user": set(), "group": set()}
        for source, app_label, codename in rows:
            found[source].add(f"{app_label}.{codename}")
        # The caches Django's get_user_permissions and get_group_permissions read, too.
        user_obj._user_perm_cache, user_obj._group_perm_cache = found["user"], found["group"]
        user_obj._perm_cache = found["user"] | found["group"]
        return user_obj._perm_cache
