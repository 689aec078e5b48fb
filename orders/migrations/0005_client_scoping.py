from django.conf import settings
from django.db import migrations, models

from console.platform.roles import sync_roles


class Migration(migrations.Migration):
    """An API client sees and changes only the orders it created (issue 14): the
    ``view_all_orders`` and ``change_all_orders`` permissions (the console's roles read all
    orders, admins change all), and an index for a client's own list, which also serves the
    foreign key's lookups, so the key's own index goes."""

    dependencies = [
        ("orders", "0004_amount_limits"),
        ("console", "0005_roles_production_depth"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="order",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("cancel_order", "Can cancel orders"),
                    ("export_order", "Can export orders as CSV"),
                    ("annotate_order", "Can add notes to orders"),
            ("view_all_orders", "Can see every client's orders through the API"),
            ("change_all_orders", "Can change and cancel every client's orders through the API"),
                ],
            },
        ),
        # The new index first: the foreign key is never without one.
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["created_by", "created_at", "id"], name="order_creator_created"),
        ),
        migrations.AlterField(
            model_name="order",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
