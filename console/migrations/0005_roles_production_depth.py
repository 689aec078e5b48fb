from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """Gives the roles the permissions of order history, export, notes, audit log, API
    tokens and login lockouts."""

    dependencies = [
        ("console", "0004_audit_append_only"),
        ("orders", "0003_production_depth"),
        ("knox", "0009_extend_authtoken_field"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
