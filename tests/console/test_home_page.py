"""The home page's defects from the walk-through: the app list speaks the operators' words
and has no link that leads back to itself."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_third_party_sections_have_names_that_say_what_they_hold(console_client, superuser):
    console_client.force_login(superuser)

    page = console_client.get(reverse("admin:index")).content.decode()

    assert "Sign-in attempts and lockouts" in page and "API tokens" in page
    assert ">Axes<" not in page and ">Knox<" not in page
    # Their own pages' breadcrumbs carry the same names.
    tokens = console_client.get(reverse("admin:app_list", args=["knox"])).content.decode()
    assert "API tokens" in tokens


def test_no_view_site_link_back_to_the_console_itself(console_client, superuser):
    console_client.force_login(superuser)

    page = console_client.get(reverse("admin:index")).content.decode()

    assert "View site" not in page
    assert reverse("admin:logout") in page  # the user tools are still there
