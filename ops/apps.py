from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Support staff's side of the console: dead-letter queues and alarms."""

    name = "ops"
    verbose_name = "Operations: failures and alarms"
    default_auto_field = "django.db.models.BigAutoField"
