"""Console pages that change rows through Django's own add/change/delete views record each
change in the audit log, with the fields before and after.

Django's admin calls ``log_addition`` / ``log_change`` / ``log_deletions`` for every such
write (its own history); ``AuditedModelAdmin`` records the same writes in our audit log,
in the same transaction. Passwords and other secrets are never written there: only that
they changed.
"""

import hashlib
from typing import Any

from django.contrib import admin
from django.db import models

from console.models import AuditEntry
from console.platform.audit import audit_record

SECRET_FIELDS = {"password", "digest", "token_key"}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's fields (and many-to-many ids) as plain values; secrets as digests that
    only show whether they changed."""
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        value = field.value_from_object(obj)
        if field.name in SECRET_FIELDS:
            value = hashlib.sha256(str(value).encode()).hexdigest()[:12] if value else ""
        values[field.name] = _plain(value)
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            values[field.name] = sorted(str(pk) for pk in getattr(obj, field.name).values_list("pk", flat=True))
    return values


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Only the fields that differ; secrets shown as "(changed)"."""
    old, new = {}, {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            hidden = name in SECRET_FIELDS
            old[name] = "(hidden)" if hidden else before.get(name)
            new[name] = "(changed)" if hidden else after.get(name)
    return old, new


class AuditedModelAdmin(admin.ModelAdmin):
    """Records every add, change and delete made through this admin in the audit log."""

    def _audit_action(self, verb: str) -> str:
        return f"{self.opts.label_lower}.{verb}"

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "POST":
            request._audit_before = getattr(request, "_audit_before", {})
            request._audit_before[(self.opts.label_lower, str(obj.pk))] = snapshot(obj)
        return obj

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        audit_record(
            action=self._audit_action("add"),
            obj=obj,
            actor=request.user,
            source=AuditEntry.Source.CONSOLE,
            after=changes({}, snapshot(obj))[1],
        )
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        before = getattr(request, "_audit_before", {}).get((self.opts.label_lower, str(obj.pk)), {})
        old, new = changes(before, snapshot(obj))
        audit_record(
            action=self._audit_action("change"),
            obj=obj,
            actor=request.user,
            source=AuditEntry.Source.CONSOLE,
            before=old,
            after=new,
        )
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        result = super().log_deletions(request, objects)
        for obj in objects:
            audit_record(
                action=self._audit_action("delete"),
                obj=obj,
                actor=request.user,
                source=AuditEntry.Source.CONSOLE,
                before=snapshot(obj),
            )
        return result
