"""Who may give what: users, groups and their privileges.

The console's user and group pages (console/admin.py) ask these before showing a form as
editable and again before anything is saved.
The rule: nobody grants a flag, group or permission they do not hold themselves; admins
(and anyone who could become one) are changed only by a superuser; nobody but a
superuser changes their own privileges.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from console.platform.roles import ADMIN

#: Permissions that manage users, groups or permissions: whoever holds one can give
#: themselves more, so holding one makes a user an admin for these rules.
USER_MANAGEMENT_PERMISSIONS = frozenset(
    f"auth.{verb}_{model}" for verb in ("add", "change", "delete") for model in ("user", "group", "permission")
)


def permission_names(permissions) -> set[str]:
    """``{"app_label.codename", ...}`` of Permission rows (a queryset, prefetched or not,
    or a list); content types come from Django's cache of them."""
    return {f"{ContentType.objects.get_for_id(p.content_type_id).app_label}.{p.codename}" for p in permissions}


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))


def holds_admin_powers(user) -> bool:
    """A superuser, a member of the admin role, or anyone holding a permission that manages
    users, groups or permissions (directly or through a group)."""
    if user.is_superuser:
        return True
    if user.pk is None:
        return False
    if user.groups.filter(name=ADMIN).exists():
        return True
    return bool(_all_permissions(user) & USER_MANAGEMENT_PERMISSIONS)


def _all_permissions(user) -> set[str]:
    """Every permission the user holds (own and through groups), also for an inactive user:
    a deactivated admin is still an admin until a superuser says otherwise."""
    if user.pk is None:
        return set()
    return permission_names(Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct())


def _group_refusal(*, actor, group, verb: str) -> str | None:
    """Why ``actor`` may not ``verb`` (give, change) ``group`` for what it holds: a group
    that makes its members admins, or holds permissions the actor lacks (None if neither)."""
    permissions = permission_names(group.permissions.all())
    if group.name == ADMIN or permissions & USER_MANAGEMENT_PERMISSIONS:
        return f"Only a superuser may {verb} the group {group.name!r}: it makes its members admins."
    if missing := permissions - actor.get_all_permissions():
        return f"You may not {verb} the group {group.name!r}: it has permissions you do not hold ({_listed(missing)})."
    return None


def group_grant_refusal(*, actor, group) -> str | None:
    """Why ``actor`` may not give ``group`` to someone (None if they may)."""
    if actor.is_superuser:
        return None
    return _group_refusal(actor=actor, group=group, verb="give")


def permissions_grant_refusal(*, actor, names: set[str]) -> str | None:
    """Why ``actor`` may not give these permissions (None if they may)."""
    if actor.is_superuser or not names:
        return None
    if names & USER_MANAGEMENT_PERMISSIONS:
        found = _listed(names & USER_MANAGEMENT_PERMISSIONS)
        return f"Only a superuser may give permissions that manage users and groups ({found})."
    missing = names - actor.get_all_permissions()
    if missing:
        return f"You may not give permissions you do not hold ({_listed(missing)})."
    return None


def user_change_refusal(*, actor, target) -> str | None:
    """Why ``actor`` may not change ``target`` at all: their details, password, or account
    (None if they may). Granting privileges is checked on its own (``user_grant_refusal``)."""
    if actor.is_superuser or target is None or target.pk is None:
        return None
    if target.is_superuser:
        return "Only a superuser may change a superuser."
    if target.pk == actor.pk:
        return None  # their own details; their privileges stay as they are
    if holds_admin_powers(target):
        return "Only a superuser may change another admin."
    missing = _all_permissions(target) - actor.get_all_permissions()
    if missing:
        return f"Only a superuser may change this user: they hold permissions you do not ({_listed(missing)})."
    return None


@dataclass(frozen=True)
class Privileges:
    """What a user may do, as the user page edits it."""

    is_superuser: bool
    is_staff: bool
    is_active: bool
    group_ids: frozenset[int]
    permission_ids: frozenset[int]

    @classmethod
    def of(cls, user) -> "Privileges":
        """As stored (an unsaved user has none)."""
        if user is None or user.pk is None:
            return cls(False, False, True, frozenset(), frozenset())
        stored = get_user_model().objects.get(pk=user.pk)
        return cls(
            stored.is_superuser,
            stored.is_staff,
            stored.is_active,
            frozenset(stored.groups.values_list("pk", flat=True)),
            frozenset(stored.user_permissions.values_list("pk", flat=True)),
        )


def user_grant_refusal(*, actor, target, before: Privileges, after: Privileges) -> str | None:
    """Why ``actor`` may not move ``target`` from ``before`` to ``after`` (None if they may).
    Taking a privilege away is allowed wherever changing the user is; giving one needs
    holding it, and changing one's own needs a superuser."""
    if actor.is_superuser or before == after:
        return None
    if target is not None and target.pk is not None and target.pk == actor.pk:
        return "You may not change your own privileges (flags, groups or permissions): ask a superuser."
    if after.is_superuser and not before.is_superuser:
        return "Only a superuser may make someone a superuser."
    if after.is_staff and not before.is_staff and not actor.is_staff:
        return "You may not give staff status: you do not hold it."
    for group in Group.objects.filter(pk__in=after.group_ids - before.group_ids).prefetch_related("permissions"):
        if refusal := group_grant_refusal(actor=actor, group=group):
            return refusal
    added = Permission.objects.filter(pk__in=after.permission_ids - before.permission_ids)
    return permissions_grant_refusal(actor=actor, names=permission_names(added))


def group_change_refusal(*, actor, group) -> str | None:
    """Why ``actor`` may not change or delete ``group`` (None if they may): a group that
    makes admins, holds permissions the actor does not, counts the actor among its members,
    or has admins among them is a superuser's to change."""
    if actor.is_superuser or group is None or group.pk is None:
        return None
    if refusal := _group_refusal(actor=actor, group=group, verb="change"):
        return refusal
    members = get_user_model().objects.filter(groups=group, is_superuser=False)
    if members.filter(pk=actor.pk).exists():
        return "You may not change a group you belong to: that would change your own privileges."
    codenames = [name.split(".", 1)[1] for name in USER_MANAGEMENT_PERMISSIONS]
    admins = (
        Q(groups__name=ADMIN)
        | Q(groups__permissions__content_type__app_label="auth", groups__permissions__codename__in=codenames)
        | Q(user_permissions__content_type__app_label="auth", user_permissions__codename__in=codenames)
    )
    if get_user_model().objects.filter(pk__in=members.values("pk")).filter(admins).exists():
        return f"Only a superuser may change the group {group.name!r}: admins belong to it."
    return None
