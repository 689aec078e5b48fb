from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """Gives the roles the webhooks' permissions."""

    dependencies = [("webhooks", "0001_initial"), ("console", "0006_audit_search_indexes")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
