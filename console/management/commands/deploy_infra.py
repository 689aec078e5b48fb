from django.conf import settings
from django.core.management.base import BaseCommand

from console.aws import clients as aws
from console.aws import resources
from infra.deploy import deploy


class Command(BaseCommand):
    help = "Deploy infra/template.yaml to the configured AWS endpoint (the local moto server in development)."

    def add_arguments(self, parser):
        parser.add_argument("--api-url", default="http://127.0.0.1:8000/api")
        parser.add_argument("--stack-name", default=None)
        parser.add_argument(
            "--alert-email",
            default=None,
            help="subscribed to the stage's alert topic (default: the ALERT_EMAIL setting; empty: nobody)",
        )

    def handle(self, *args, api_url: str, stack_name: str | None, alert_email: str | None, **options):
        outputs = deploy(
            endpoint_url=settings.AWS_ENDPOINT_URL,
            region=settings.AWS_REGION,
            stage=settings.STAGE,
            prefix=settings.RESOURCE_PREFIX,
            stack_name=stack_name or settings.STACK_NAME,
            api_url=api_url,
            alert_email=settings.ALERT_EMAIL if alert_email is None else alert_email,
            # The stage sends from DEFAULT_FROM_EMAIL, as its domain's SES identity.
            mail_from_address=settings.DEFAULT_FROM_EMAIL,
        )
        aws.reset_clients()
        resources.reset_cache()
        for key, value in outputs.items():
            self.stdout.write(f"{key}: {value}")
