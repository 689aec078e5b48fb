from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """Gives admins the permission to start the order saga (workflows.add_execution)."""

    dependencies = [
        ("console", "0006_audit_search_indexes"),
        ("workflows", "0004_execution_stop_and_resume"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
