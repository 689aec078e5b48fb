from django.db import migrations, models

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """The queue page's permissions (no table: the queues live in SQS), given to support
    staff and admins."""

    dependencies = [
        ("ops", "0003_redrivejob_move_task_started_ms"),
    ]

    operations = [
        migrations.CreateModel(
            name="Queue",
            fields=[
                ("name", models.CharField(max_length=80, primary_key=True, serialize=False)),
            ],
            options={
                "permissions": [("pause_queue", "Can pause and resume a queue's consumer")],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
