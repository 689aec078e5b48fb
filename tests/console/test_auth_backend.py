"""console.platform.auth_backend.ModelBackend: Django's answers about permissions, in one query."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import Group, Permission

from console.platform import roles
from console.platform.auth_backend import ModelBackend
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)  # no permission caches


def permission(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


@pytest.fixture
def mixed_user():
    """Permissions of their own, of a role group, and of a second group, overlapping."""
    user = make_user("mixed", roles.OPERATOR)
    extra = Group.objects.create(name="exporters")
    extra.permissions.add(permission("view_order"), permission("delete_mediaasset"))
    user.groups.add(extra)
    user.user_permissions.add(permission("view_order"), permission("change_alarm"))
    return user


def test_the_same_answers_as_djangos_backend(mixed_user):
    django, ours = DjangoModelBackend(), ModelBackend()
    expected, got = fresh(mixed_user), fresh(mixed_user)
    assert ours.get_all_permissions(got) == django.get_all_permissions(expected)
    assert {"orders.view_order", "ops.change_alarm", "media.delete_mediaasset"} <= ours.get_all_permissions(got)
    # Its caches serve Django's own per-source questions with the same answers.
    assert (
        ours.get_user_permissions(got)
        == django.get_user_permissions(expected)
        == {
            "orders.view_order",
            "ops.change_alarm",
        }
    )
    assert ours.get_group_permissions(got) == django.get_group_permissions(expected)
    assert ours.has_perm(got, "ops.change_alarm") and not ours.has_perm(got, "auth.delete_user")
    assert ours.has_module_perms(got, "media") and not ours.has_module_perms(got, "auth")


def test_one_query_for_a_request_and_none_after(mixed_user, django_assert_num_queries):
    user = fresh(mixed_user)
    with django_assert_num_queries(1):
        assert user.has_perms(["orders.view_order", "ops.change_alarm"])
    with django_assert_num_queries(0):
        assert user.has_perm("media.delete_mediaasset") and not user.has_perm("auth.add_user")


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"is_active": False}, set()),  # inactive: nothing, whatever they were given
        ({"is_superuser": True}, "all"),  # superuser: every permission there is
    ],
)
def test_inactive_users_and_superusers_as_django_has_them(mixed_user, change, expected):
    get_user_model().objects.filter(pk=mixed_user.pk).update(**change)
    perms = ModelBackend().get_all_permissions(fresh(mixed_user))
    assert perms == DjangoModelBackend().get_all_permissions(fresh(mixed_user))
    if expected == "all":
        assert len(perms) == Permission.objects.count()
    else:
        assert perms == expected


def test_users_with_nothing_and_objects_get_nothing(mixed_user):
    nobody = make_user("nobody", None)
    assert ModelBackend().get_all_permissions(fresh(nobody)) == set()
    # Per-object permissions are not this backend's (as in Django's).
    assert ModelBackend().get_all_permissions(fresh(mixed_user), obj=object()) == set()


def test_it_is_the_backend_in_use(mixed_user, settings):
    assert "console.platform.auth_backend.ModelBackend" in settings.AUTHENTICATION_BACKENDS
    assert "django.contrib.auth.backends.ModelBackend" not in settings.AUTHENTICATION_BACKENDS
