"""What the Zappa callbacks add to a deployment (infra/zappa_callbacks.py), against the
local AWS where AWS is involved."""

import io
import json
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from infra import zappa_callbacks
from tests.on_lambda.conftest import zappa_cli

ROOT = Path(__file__).resolve().parents[2]


def tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def local_session(local_aws, monkeypatch) -> boto3.session.Session:
    # Zappa builds its clients from a session; boto3 honours AWS_ENDPOINT_URL.
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint)
    return boto3.session.Session(region_name="us-east-1")


@pytest.mark.stack
def test_partial_batch_responses_are_turned_on_for_the_mappings_zappa_made(local_session, local_aws):
    from zappa.utilities import add_event_source

    sqs, awslambda = local_session.client("sqs"), local_session.client("lambda")
    # Queues of this test only: the stage's own queues must not get a mapping the local
    # engine would try to run.
    queue_arns = []
    for name in ("callbacks-test-steps", "callbacks-test-approvals"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arns.append(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    function = awslambda.create_function(
        FunctionName="callbacks-test",
        Runtime="python3.12",
        Role=local_aws.outputs["FunctionRoleArn"],
        Handler="handler.lambda_handler",
        Code={"ZipFile": tiny_zip()},
    )
    try:
        for arn in queue_arns:
            # As `zappa schedule` does it: no FunctionResponseTypes.
            assert add_event_source({"arn": arn, "batch_size": 10}, function["FunctionArn"], "f", local_session) in {
                "successful",
                "updated",
            }
        arn = function["FunctionArn"]
        before = awslambda.list_event_source_mappings(FunctionName=arn)["EventSourceMappings"]
        assert len(before) == 2 and all(not m.get("FunctionResponseTypes") for m in before)

        changed = zappa_callbacks.set_partial_batch_responses(
            lambda_client=awslambda, function_name=arn, queue_arns=queue_arns
        )

        after = awslambda.list_event_source_mappings(FunctionName=arn)["EventSourceMappings"]
        assert sorted(changed) == sorted(m["UUID"] for m in before)
        assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in after)
        again = zappa_callbacks.set_partial_batch_responses(
            lambda_client=awslambda, function_name=arn, queue_arns=queue_arns
        )
        assert again == []
        with pytest.raises(RuntimeError, match="no event source mapping"):
            zappa_callbacks.set_partial_batch_responses(
                lambda_client=awslambda,
                function_name=arn,
                queue_arns=["arn:aws:sqs:us-east-1:123456789012:not-mapped"],
            )
    finally:
        mappings = awslambda.list_event_source_mappings(FunctionName=function["FunctionArn"])["EventSourceMappings"]
        for mapping in mappings:
            awslambda.delete_event_source_mapping(UUID=mapping["UUID"])
        awslambda.delete_function(FunctionName="callbacks-test")


@pytest.mark.stack
def test_secret_references_are_resolved_with_the_deploying_credentials(local_session):
    local_session.client("ssm").put_parameter(
        Name="/ops-console/test/order-notification-email", Value="ops@example.com", Type="SecureString", Overwrite=True
    )
    secrets = local_session.client("secretsmanager")
    secret = json.dumps({"DJANGO_SECRET_KEY": "k" * 50, "DATABASE_URL": "postgres://app:pw@db/console"})
    try:
        secrets.create_secret(Name="ops-console/test/app", SecretString=secret)
    except ClientError:
        secrets.put_secret_value(SecretId="ops-console/test/app", SecretString=secret)

    resolved = zappa_callbacks.resolve_references(
        {
            "ORDER_NOTIFICATION_EMAIL": "ssm:/ops-console/test/order-notification-email",
            "DATABASE_URL": "secretsmanager:ops-console/test/app#DATABASE_URL",
            "WHOLE": "secretsmanager:ops-console/test/app",
            "STAGE": "test",
        },
        local_session,
    )

    assert resolved == {
        "ORDER_NOTIFICATION_EMAIL": "ops@example.com",
        "DATABASE_URL": "postgres://app:pw@db/console",
        "WHOLE": secret,
        "STAGE": "test",
    }
    with pytest.raises(ClientError):
        zappa_callbacks.resolve_references({"X": "ssm:/ops-console/test/missing"}, local_session)


def test_the_stage_settings_hold_references_not_secrets():
    stage = zappa_cli().stage_config
    for name, value in stage["aws_environment_variables"].items():
        assert value.startswith(("ssm:", "secretsmanager:")), f"{name} must be a reference"
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL"} & set(stage["environment_variables"])
    # Mail goes through SES with the function's role: no mail credential at all.
    assert not [
        name for name in [*stage["environment_variables"], *stage["aws_environment_variables"]] if "SMTP" in name
    ]


def test_packaging_leaves_references_alone_and_puts_the_account_in_every_arn(monkeypatch):
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = "dev", False
    cli.load_settings(str(ROOT / "zappa_settings.json"))
    cli.command = "package"
    monkeypatch.setenv("ZAPPA_ACCOUNT_ID", "111122223333")

    zappa_callbacks.settings_loaded(cli)

    generated = cli.get_zappa_settings_string()
    assert "123456789012" not in generated
    assert "arn:aws:sqs:us-east-1:111122223333:ops-console-dev-steps" in generated
    assert cli.dead_letter_config == {"TargetArn": "arn:aws:sqs:us-east-1:111122223333:ops-console-dev-async-dlq"}
    assert cli.aws_environment_variables["DATABASE_URL"].startswith("secretsmanager:")


def test_finishing_the_package_adds_unchecked_bytecode_and_keeps_only_used_models(tmp_path):
    package = tmp_path / "package.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app/__init__.py", "")
        archive.writestr("app/work.py", "ANSWER = 42\n")
        for service in ("sqs", "ec2"):
            archive.writestr(f"botocore/data/{service}/2012-11-05/service-2.json.gz", b"model")
        archive.writestr("botocore/data/endpoints.json", "{}")
        for language in ("en", "de", "pt_BR"):
            archive.writestr(f"app/locale/{language}/LC_MESSAGES/django.mo", b"catalog")

    done = zappa_callbacks.finish(package, keep_services={"sqs"})

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        header = archive.read("app/__pycache__/work.cpython-312.pyc")[:16]
    assert done == {"botocore_models_removed": 1, "translations_removed": 2, "modules_compiled": 2}
    assert "botocore/data/sqs/2012-11-05/service-2.json.gz" in names and "botocore/data/endpoints.json" in names
    assert {name for name in names if "/locale/" in name} == {"app/locale/en/LC_MESSAGES/django.mo"}
    assert not any(name.startswith("botocore/data/ec2") for name in names)
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, not checked against the source


def test_the_package_keeps_the_models_of_every_service_the_role_may_call():
    services = zappa_callbacks.function_services(ROOT / "infra" / "template.yaml")

    assert {"sqs", "stepfunctions", "logs", "lambda", "apigatewaymanagementapi", "sesv2"} <= services
    assert "execute-api" not in services and "ses" not in services  # SES's v1 API is never called
    # Zappa's async-task module builds these clients when imported.
    assert {"sns", "sts", "dynamodb"} <= services


def test_the_console_speaks_only_the_languages_the_package_keeps():
    """The package drops other languages' translations (KEEP_LANGUAGES): nothing may ask for them."""
    from django.conf import settings as django_settings

    assert django_settings.LANGUAGE_CODE.split("-")[0] in zappa_callbacks.KEEP_LANGUAGES
    assert "django.middleware.locale.LocaleMiddleware" not in django_settings.MIDDLEWARE
