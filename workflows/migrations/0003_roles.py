from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """The roles gain the new permissions (assign approvals, restart executions)."""

    dependencies = [
        ("workflows", "0002_approvals_operations"),
        ("console", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
