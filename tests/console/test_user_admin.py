"""The console's user and group pages never let anyone give more than they hold.

Issue 14: a non-superuser in the admin role POSTed its own user page with
``is_superuser=on``, then changed the superuser's password. The rules now: nobody gives a
flag, group or permission they do not hold; only a superuser changes (or sets the password
of, or deletes) a superuser or another admin; nobody but a superuser changes their own
privileges. Every refused case leaves the database as it was."""

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry
from console.platform import privileges, roles
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
User = get_user_model()


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def group(name: str) -> Group:
    return Group.objects.get(name=name)


def state() -> dict:
    """Everything the user and group pages could change."""
    return {
        "users": {
            u.username: (
                u.password,
                u.is_superuser,
                u.is_staff,
                u.is_active,
                u.first_name,
                sorted(u.groups.values_list("name", flat=True)),
                sorted(u.user_permissions.values_list("codename", flat=True)),
            )
            for u in User.objects.order_by("pk")
        },
        "groups": {g.name: sorted(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()},
    }


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def user_form(user, **changes) -> dict:
    """The change form of ``user`` as a browser would post it, with ``changes``."""
    values = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": list(user.groups.values_list("pk", flat=True)),
        "user_permissions": list(user.user_permissions.values_list("pk", flat=True)),
        **changes,
    }
    data = {k: v for k, v in values.items() if not isinstance(v, bool)}
    data.update({k: "on" for k, v in values.items() if v is True})
    data.update(
        {
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    return data


def change_url(user) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def password_url(user) -> str:
    return reverse("admin:auth_user_password_change", args=[user.pk])


NEW_PASSWORD = {
    "password1": "a-new-long-passphrase-42",
    "password2": "a-new-long-passphrase-42",
    "usable_password": "true",
}


@pytest.fixture
def other_admin(db):
    return make_user("adam-admin", roles.ADMIN)


@pytest.fixture
def target(db):
    return make_user("olga-operator", roles.OPERATOR)


# --- The reported attack ---------------------------------------------------------------


def test_an_admin_cannot_make_itself_superuser_by_posting_its_own_page(admin_user, superuser):
    before = state()
    client = as_user(admin_user)
    response = client.post(
        change_url(admin_user),
        user_form(admin_user, is_superuser=True, groups=[g.pk for g in Group.objects.all()]),
    )
    # The privilege fields are not part of its own form: nothing of them is taken.
    assert response.status_code in (200, 302)
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert state() == before
    page = client.get(change_url(admin_user)).content.decode()
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page


def test_an_admin_cannot_change_the_superusers_password(admin_user, superuser):
    before = state()
    client = as_user(admin_user)
    assert client.get(password_url(superuser)).status_code == 403
    assert client.post(password_url(superuser), NEW_PASSWORD).status_code == 403
    assert state() == before
    assert not AuditEntry.objects.filter(object_id=str(superuser.pk)).exists()


def test_an_admin_sees_a_superuser_read_only_and_cannot_change_or_deactivate_them(admin_user, superuser):
    before = state()
    client = as_user(admin_user)
    page = client.get(change_url(superuser))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(change_url(superuser), user_form(superuser, is_active=False, first_name="x")).status_code == 403
    assert state() == before


# --- Other admins and self ---------------------------------------------------------------


def test_an_admin_cannot_change_another_admin_nor_their_password(admin_user, other_admin):
    before = state()
    client = as_user(admin_user)
    assert client.post(change_url(other_admin), user_form(other_admin, is_active=False)).status_code == 403
    assert client.post(password_url(other_admin), NEW_PASSWORD).status_code == 403
    assert state() == before


def test_a_user_who_holds_a_permission_the_admin_lacks_is_a_superusers_to_change(admin_user):
    stranger = make_user("dora-deleter", roles.OPERATOR)
    stranger.user_permissions.add(perm("orders.delete_order"))  # the admin role does not hold it
    before = state()
    client = as_user(admin_user)
    assert client.post(change_url(stranger), user_form(stranger, first_name="Dora")).status_code == 403
    assert client.post(password_url(stranger), NEW_PASSWORD).status_code == 403
    assert state() == before


def test_an_admin_changes_its_own_name_but_its_own_password_only_with_the_current_one(admin_user):
    client = as_user(admin_user)
    response = client.post(change_url(admin_user), user_form(admin_user, first_name="Alice"))
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.first_name == "Alice" and admin_user.groups.get().name == roles.ADMIN
    before = state()
    response = client.post(password_url(admin_user), NEW_PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("admin:password_change")
    assert state() == before


# --- Giving groups, permissions and flags to a plain user ------------------------------


def test_an_admin_may_give_an_operator_roles_and_permissions_it_holds(admin_user, target):
    client = as_user(admin_user)
    data = user_form(
        target,
        groups=[group(roles.OPERATOR).pk, group(roles.SUPPORT).pk],
        user_permissions=[perm("orders.cancel_order").pk],
    )
    assert client.post(change_url(target), data).status_code == 302
    assert set(target.groups.values_list("name", flat=True)) == {roles.OPERATOR, roles.SUPPORT}
    assert target.has_perm("orders.cancel_order")
    entry = AuditEntry.objects.get(action="auth.user.change", object_id=str(target.pk))
    assert entry.actor == admin_user


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(lambda: {"groups": [group(roles.ADMIN).pk]}, id="the admin group"),
        pytest.param(lambda: {"user_permissions": [perm("auth.change_user").pk]}, id="a user-management permission"),
        pytest.param(lambda: {"user_permissions": [perm("orders.delete_order").pk]}, id="a permission it lacks"),
    ],
)
def test_an_admin_cannot_give_an_operator_what_makes_admins_or_what_it_lacks(admin_user, target, changes):
    before = state()
    response = as_user(admin_user).post(change_url(target), user_form(target, **changes()))
    assert response.status_code == 200 and "errornote" in response.content.decode()  # the form again
    assert state() == before


def test_a_group_with_a_permission_the_admin_lacks_is_not_offered_nor_accepted(admin_user, target):
    extra = Group.objects.create(name="deleters")
    extra.permissions.add(perm("orders.delete_order"))
    client = as_user(admin_user)
    page = client.get(change_url(target)).content.decode()
    assert f'value="{extra.pk}"' not in page and f'value="{group(roles.SUPPORT).pk}"' in page
    before = state()
    response = client.post(change_url(target), user_form(target, groups=[extra.pk]))
    assert response.status_code == 200
    assert state() == before


def test_an_admin_cannot_make_an_operator_superuser(admin_user, target):
    before = state()
    as_user(admin_user).post(change_url(target), user_form(target, is_superuser=True))
    target.refresh_from_db()
    assert not target.is_superuser
    assert state() == before


def test_flags_posted_to_the_add_page_are_not_taken(admin_user):
    response = as_user(admin_user).post(
        reverse("admin:auth_user_add"),
        {
            "username": "new-hire",
            "password1": "a-new-long-passphrase-42",
            "password2": "a-new-long-passphrase-42",
            "usable_password": "true",
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [group(roles.ADMIN).pk],
        },
    )
    assert response.status_code == 302
    created = User.objects.get(username="new-hire")
    assert not created.is_superuser and not created.is_staff and not created.groups.exists()


def test_the_save_refuses_even_if_the_form_let_it_through(admin_user, target):
    """The form's checks are the first line; whatever reaches the database is checked
    again before the transaction commits."""
    from django.contrib.auth import admin as auth_admin

    from console.admin import AuditedUserAdmin, UserPrivilegeForm

    before = state()
    with (
        mock.patch.object(UserPrivilegeForm, "privilege_refusal", return_value=None),
        mock.patch.object(
            AuditedUserAdmin,
            "formfield_for_manytomany",
            lambda self, db_field, request=None, **kw: auth_admin.UserAdmin.formfield_for_manytomany(
                self, db_field, request, **kw
            ),
        ),
    ):
        response = as_user(admin_user).post(change_url(target), user_form(target, groups=[group(roles.ADMIN).pk]))
    assert response.status_code == 403
    assert state() == before


# --- Deleting ----------------------------------------------------------------------------


@pytest.fixture
def deleting_admin(admin_user):
    # The admin role may not delete users; a superuser gave this one the permission.
    admin_user.user_permissions.add(perm("auth.delete_user"))
    return User.objects.get(pk=admin_user.pk)


def test_an_admin_who_may_delete_users_deletes_an_operator(deleting_admin, target):
    response = as_user(deleting_admin).post(reverse("admin:auth_user_delete", args=[target.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=target.pk).exists()
    assert AuditEntry.objects.filter(action="auth.user.delete", object_id=str(target.pk)).exists()


@pytest.mark.parametrize("kind", ["superuser", "other_admin", "self"])
def test_an_admin_cannot_delete_a_superuser_another_admin_or_itself(deleting_admin, superuser, other_admin, kind):
    victim = {"superuser": superuser, "other_admin": other_admin, "self": deleting_admin}[kind]
    before = state()
    response = as_user(deleting_admin).post(reverse("admin:auth_user_delete", args=[victim.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert state() == before


def test_the_bulk_delete_refuses_the_whole_selection_if_one_is_not_the_actors_to_delete(
    deleting_admin, superuser, target
):
    before = state()
    client = as_user(deleting_admin)
    selection = {"action": "delete_selected", "_selected_action": [target.pk, superuser.pk]}
    confirm = client.post(reverse("admin:auth_user_changelist"), selection)
    assert confirm.status_code == 200 and "permission to delete" in confirm.content.decode()
    response = client.post(reverse("admin:auth_user_changelist"), {**selection, "post": "yes"})
    assert response.status_code == 403
    assert state() == before
    assert not AuditEntry.objects.filter(action="auth.user.delete").exists()


# --- Superusers ------------------------------------------------------------------------------


def test_a_superuser_changes_admins_gives_any_privilege_and_deletes(superuser, admin_user, target):
    client = as_user(superuser)
    assert client.post(password_url(admin_user), NEW_PASSWORD).status_code == 302
    data = user_form(
        target, is_superuser=True, groups=[group(roles.ADMIN).pk], user_permissions=[perm("auth.delete_user").pk]
    )
    assert client.post(change_url(target), data).status_code == 302
    target.refresh_from_db()
    assert target.is_superuser and target.groups.get().name == roles.ADMIN
    assert client.post(reverse("admin:auth_user_delete", args=[admin_user.pk]), {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=admin_user.pk).exists()


# --- Groups ----------------------------------------------------------------------------------


@pytest.fixture
def group_admin(admin_user):
    # A superuser let this admin manage groups too (the admin role only views them).
    admin_user.user_permissions.add(*(perm(f"auth.{verb}_group") for verb in ("add", "change", "delete")))
    return User.objects.get(pk=admin_user.pk)


def group_form(name: str, permissions: list[Permission]) -> dict:
    return {"name": name, "permissions": [p.pk for p in permissions]}


def test_a_group_gets_only_permissions_its_creator_holds(group_admin):
    client = as_user(group_admin)
    assert (
        client.post(reverse("admin:auth_group_add"), group_form("readers", [perm("orders.view_order")])).status_code
        == 302
    )
    assert group("readers").permissions.get().codename == "view_order"
    before = state()
    for refused in (perm("orders.delete_order"), perm("auth.change_user")):
        response = client.post(reverse("admin:auth_group_add"), group_form("more", [refused]))
        assert response.status_code == 200, refused
    assert state() == before


def test_a_groups_permissions_grow_only_with_what_its_editor_holds(group_admin, target):
    operators = group(roles.OPERATOR)
    url = reverse("admin:auth_group_change", args=[operators.pk])
    client = as_user(group_admin)
    held = [*operators.permissions.all(), perm("orders.cancel_order")]
    before = state()
    response = client.post(url, group_form(roles.OPERATOR, [*held, perm("orders.delete_order")]))
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert state() == before
    assert client.post(url, group_form(roles.OPERATOR, held)).status_code == 302
    assert operators.permissions.filter(codename="cancel_order").exists()


@pytest.mark.parametrize("which", ["admin group", "own group", "group with an admin member"])
def test_groups_that_make_admins_or_hold_the_editor_or_admins_are_a_superusers(group_admin, other_admin, which):
    if which == "admin group":
        chosen = group(roles.ADMIN)
    elif which == "own group":
        chosen = Group.objects.create(name="mine")
        group_admin.groups.add(chosen)
    else:
        chosen = Group.objects.create(name="shared")
        other_admin.groups.add(chosen)
    before = state()
    client = as_user(group_admin)
    change = client.post(
        reverse("admin:auth_group_change", args=[chosen.pk]), group_form(chosen.name, [perm("orders.view_order")])
    )
    delete = client.post(reverse("admin:auth_group_delete", args=[chosen.pk]), {"post": "yes"})
    assert (change.status_code, delete.status_code) == (403, 403)
    assert state() == before


def test_a_superuser_gives_a_group_any_permission(superuser):
    operators = group(roles.OPERATOR)
    data = group_form(roles.OPERATOR, [*operators.permissions.all(), perm("auth.delete_user")])
    response = as_user(superuser).post(reverse("admin:auth_group_change", args=[operators.pk]), data)
    assert response.status_code == 302
    assert operators.permissions.filter(codename="delete_user").exists()


# --- The rules themselves --------------------------------------------------------------------


def test_holding_a_user_management_permission_makes_an_admin(target):
    assert not privileges.holds_admin_powers(target)
    target.user_permissions.add(perm("auth.change_group"))
    assert privileges.holds_admin_powers(User.objects.get(pk=target.pk))


def test_the_group_bulk_delete_refuses_a_selection_with_a_group_that_makes_admins(group_admin):
    readers = Group.objects.create(name="readers")
    readers.permissions.add(perm("orders.view_order"))
    before = state()
    selection = {"action": "delete_selected", "_selected_action": [readers.pk, group(roles.ADMIN).pk], "post": "yes"}
    assert as_user(group_admin).post(reverse("admin:auth_group_changelist"), selection).status_code == 403
    assert state() == before
    only_readers = {**selection, "_selected_action": [readers.pk]}
    assert as_user(group_admin).post(reverse("admin:auth_group_changelist"), only_readers).status_code == 302
    assert not Group.objects.filter(name="readers").exists()
