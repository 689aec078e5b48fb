from django.db import migrations

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_initial"),
        ("orders", "0001_initial"),
        ("workflows", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
