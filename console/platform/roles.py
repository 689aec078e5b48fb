"""The console's roles, as groups with permissions.

Migrations call ``sync_roles`` so every database has the groups; a migration that adds a
permission to a role adds it here and calls ``sync_roles`` again.
"""

OPERATOR = "operator"
SUPPORT = "support"
ADMIN = "admin"
API_CLIENT = "api-client"

_SEE_ORDERS = [
    "orders.view_order",
    # Every client's orders, in the REST API as in the console (an API client sees only
    # the orders it created unless given this, e.g. for reporting).
    "orders.view_all_orders",
    "orders.view_orderitem",
    "workflows.view_execution",
    "workflows.view_steprun",
    "workflows.view_approval",
]

# Dead-letter queues and alarms: support staff look after them, admins too.
_OPS = [
    "ops.view_deadletter",
    "ops.redrive_deadletter",
    "ops.purge_deadletter",
    "ops.view_redrivejob",
    "ops.view_alarm",
    "ops.manage_alarm",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATOR: _SEE_ORDERS + ["workflows.decide_approval"],
    SUPPORT: _SEE_ORDERS
    + ["workflows.restart_execution", "workflows.stop_execution", "workflows.start_saga"]
    + _OPS,
    ADMIN: _SEE_ORDERS
    + [
        "orders.add_order",
        "orders.change_order",
        "orders.cancel_order",
        # Change and cancel any client's orders through the API, not only their own.
        "orders.change_all_orders",
        "workflows.decide_approval",
        "workflows.assign_approval",
        "workflows.restart_execution",
        "workflows.stop_execution",
        "workflows.start_saga",
        "console.view_auditentry",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
    ]
    + _OPS,
    # REST only: these users are not staff, so they cannot log into the console.
    API_CLIENT: [
        "orders.view_order",
        "orders.add_order",
        "orders.change_order",
        "orders.cancel_order",
    ],
}

# --- Order history, export, notes, audit log, access ----------
# Every console role reads an order's event history (the order page's timeline) and may
# export the list it sees; operators and support annotate orders; support and admins read
# the audit log; admins manage stock, users, API tokens and login lockouts.
ROLE_PERMISSIONS[OPERATOR] += ["orders.view_orderevent", "orders.export_order", "orders.annotate_order"]
ROLE_PERMISSIONS[SUPPORT] += [
    "orders.view_orderevent",
    "orders.export_order",
    "orders.annotate_order",
    "console.view_auditentry",
]
ROLE_PERMISSIONS[ADMIN] += [
    "orders.view_orderevent",
    "orders.export_order",
    "orders.annotate_order",
    "orders.view_stocklevel",
    "orders.add_stocklevel",
    "orders.change_stocklevel",
    "knox.view_authtoken",
    "knox.delete_authtoken",
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
]

# --- Media and CSV ingestion ---------------------------------------------------------------
# Console staff see every client's imports and media; an API client only its own
# (orders.imports.selectors, media.selectors), as with orders. Order CSV imports are the
# orders app's (they were the media app's: a migration moved their permissions, so the
# groups kept them).
_SEE_MEDIA_AND_IMPORTS = [
    "media.view_mediaasset",
    "orders.view_import",
    "orders.view_importchunk",
    "orders.view_all_imports",
    "media.view_all_mediaassets",
]
ROLE_PERMISSIONS[OPERATOR] += _SEE_MEDIA_AND_IMPORTS
ROLE_PERMISSIONS[SUPPORT] += _SEE_MEDIA_AND_IMPORTS
# Importing creates orders (and resuming an import continues that): admins and API clients.
# Importing as decided history (orders APPROVED with no workflow or approval): admins only.
ROLE_PERMISSIONS[ADMIN] += _SEE_MEDIA_AND_IMPORTS + [
    "media.add_mediaasset",
    "orders.add_import",
    "orders.change_import",
    "orders.import_history",
]
ROLE_PERMISSIONS[API_CLIENT] += [
    "media.view_mediaasset",
    "media.add_mediaasset",
    "orders.view_import",
    "orders.add_import",
]


# --- Queues ---------------------------------------------------------------------------------
# Every queue of the stage with its consumer; pausing and resuming a consumer is support
# staff's and admins' work, like redriving.
ROLE_PERMISSIONS[SUPPORT] += ["ops.view_queue", "ops.pause_queue"]
ROLE_PERMISSIONS[ADMIN] += ["ops.view_queue", "ops.pause_queue"]

# --- Failed jobs ----------------------------------------------------------------------------
# Celery tasks that failed for good: support staff and admins see them, retry and discard them.
_FAILED_JOBS = ["ops.view_taskfailure", "ops.retry_taskfailure", "ops.discard_taskfailure"]
ROLE_PERMISSIONS[SUPPORT] += _FAILED_JOBS
ROLE_PERMISSIONS[ADMIN] += _FAILED_JOBS

# --- Webhooks -------------------------------------------------------------------------------
# API clients register and run their own endpoints (selectors scope them to the owner);
# admins see and run every client's, and register endpoints for any client in the console;
# support staff see them and redeliver.
_WEBHOOKS = [
    "webhooks.view_endpoint",
    "webhooks.add_endpoint",
    "webhooks.change_endpoint",
    "webhooks.delete_endpoint",
    "webhooks.rotate_endpoint_secret",
    "webhooks.view_delivery",
    "webhooks.redeliver_delivery",
]
ROLE_PERMISSIONS[API_CLIENT] += _WEBHOOKS
ROLE_PERMISSIONS[ADMIN] += [*_WEBHOOKS, "webhooks.manage_all_endpoints"]
ROLE_PERMISSIONS[SUPPORT] += [
    "webhooks.view_endpoint",
    "webhooks.view_delivery",
    "webhooks.redeliver_delivery",
    "webhooks.manage_all_endpoints",
]

# --- Costs ----------------------------------------------------------------------------------
# What the stage costs this month (ops.costs): admins only.
ROLE_PERMISSIONS[ADMIN] += ["ops.view_stagecost"]


def sync_roles(apps, schema_editor=None) -> None:
    """Create the groups and give each exactly its role's permissions.

    Permissions whose app has not migrated yet are skipped: every migration that adds a
    permission a role names calls this again, so the groups end complete.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:  # not migrated yet: a later migration syncs again
                permissions.append(permission)
        group.permissions.set(permissions)
