from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """Issue 14: console staff see every client's imports and media (view_all_imports,
    view_all_mediaassets); only admins import as decided history (import_history)."""

    dependencies = [
        ("media", "0003_upload_owner_and_import_permissions"),
        ("console", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
