from django.db import migrations, models

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """The cost page's permission (no table: the figures come from CloudWatch), given to
    admins only."""

    dependencies = [
        ("ops", "0006_failed_jobs"),
    ]

    operations = [
        migrations.CreateModel(
            name="StageCost",
            fields=[
                ("area", models.CharField(max_length=16, primary_key=True, serialize=False)),
            ],
            options={
                "verbose_name": "cost",
                "verbose_name_plural": "costs",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
