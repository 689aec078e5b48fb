from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """Gives support staff and admins the dead-letter and alarm permissions."""

    dependencies = [
        ("ops", "0001_initial"),
        ("console", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
