from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Orders tell, workflows listen: orders.signals' receivers.
        from workflows import receivers  # noqa: F401  # lazy: app loading (connected once the apps are ready)
