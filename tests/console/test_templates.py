"""The project's admin templates follow the admin's own markup, so its styles apply."""

import re
from pathlib import Path

from django.conf import settings

APPS = ("console", "orders", "workflows", "media", "ops")


def _templates() -> dict[str, str]:
    found = {}
    for app in APPS:
        root = Path(settings.BASE_DIR) / app / "templates"
        found.update({path.relative_to(root).as_posix(): path.read_text() for path in root.rglob("*.html")})
    return found


def test_breadcrumbs_are_the_admins_list_markup():
    # Django's admin styles <ol class="breadcrumbs"><li>...; the older <div> version shows
    # as plain text above the page, outside the breadcrumbs bar.
    templates = _templates()
    assert not [name for name, text in templates.items() if '<div class="breadcrumbs">' in text]
    blocks = {
        name: re.search(r"\{% block breadcrumbs %\}(.*?)\{% endblock", text, re.S).group(1)
        for name, text in templates.items()
        if "{% block breadcrumbs %}" in text
    }
    assert blocks, "no template overrides the breadcrumbs"
    for name, block in blocks.items():
        included = re.findall(r'\{% include "([^"]+)"', block)
        markup = block + "".join(templates[path] for path in included)
        assert '<ol class="breadcrumbs">' in markup, name
