"""The project's admin templates follow the admin's own markup, so its styles apply."""

from pathlib import Path

from django.conf import settings

APPS = ("console", "orders", "workflows", "media", "ops")


def test_breadcrumbs_are_the_admins_list_markup():
    # Django's admin styles <ol class="breadcrumbs"><li>...; the older <div> version shows
    # as plain text above the page, outside the breadcrumbs bar.
    templates = [path for app in APPS for path in (Path(settings.BASE_DIR) / app / "templates").rglob("*.html")]
    assert templates
    overriding = [path for path in templates if "{% block breadcrumbs %}" in path.read_text()]
    assert overriding, "no template overrides the breadcrumbs"
    for path in overriding:
        text = path.read_text()
        assert '<ol class="breadcrumbs">' in text and '<div class="breadcrumbs">' not in text, path
