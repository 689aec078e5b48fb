"""Zappa callbacks (``callbacks`` in zappa_settings.json): what Zappa does not do by itself.

Zappa loads this file by path from the project's ``infra/`` folder, so it imports only the
standard library and boto3 (both in the build virtualenv).

* ``settings_loaded`` (after Zappa reads the stage's settings, every command):
  - replaces the placeholder account id ``123456789012`` (the local AWS's account, used in
    the ARNs of zappa_settings.json) by the real one: ``ZAPPA_ACCOUNT_ID``, or, for commands
    that talk to AWS, the deploying credentials' account;
  - for ``deploy`` and ``update``, resolves ``aws_environment_variables`` written as
    references (``ssm:/name`` for an SSM parameter, ``secretsmanager:secret-id`` or
    ``secretsmanager:secret-id#json-key`` for a Secrets Manager secret) with the
    deploying credentials. The values go to the function's configuration (encrypted at
    rest, ``aws_kms_key_arn``) and never into zappa_settings.json or the package.
* ``finish_package`` (after the package is zipped): adds ``__pycache__`` bytecode for
  every module. Lambda's filesystem is read-only, so without it Python compiles every
  module it imports on each cold start. The bytecode is "unchecked-hash" (PEP 552):
  valid whatever timestamps the files get when Lambda unpacks them. It also removes the
  botocore models of services the function's IAM policy does not name (see
  ``prune_botocore_models``): boto3 and botocore are bundled, at the version the tests
  ran with, rather than taken from the Lambda runtime.
* ``enable_partial_batch_responses`` (after deploy and update): Zappa creates SQS event
  source mappings without ``FunctionResponseTypes``, and without ``ReportBatchItemFailures``
  Lambda ignores the ``batchItemFailures`` our handlers return and retries whole batches.
  Also runnable alone: ``python -m infra.zappa_callbacks partial-batch-responses --stage dev``.
"""

import argparse
import compileall
import json
import os
import py_compile
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PLACEHOLDER_ACCOUNT_ID = "123456789012"
# Where Lambda unpacks the package: shown in tracebacks of the precompiled modules.
LAMBDA_TASK_ROOT = "/var/task"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
_ARN_ACCOUNT = re.compile(rf"(arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:){PLACEHOLDER_ACCOUNT_ID}:")
_AWS_COMMANDS = {"deploy", "update", "schedule", "unschedule", "status", "undeploy", "rollback"}


# --- settings ------------------------------------------------------------------------------


def settings_loaded(cli: Any) -> None:
    account_id = os.environ.get("ZAPPA_ACCOUNT_ID")
    if not account_id and getattr(cli, "command", "") in _AWS_COMMANDS:
        account_id = cli.zappa.boto_session.client("sts").get_caller_identity()["Account"]
    if account_id and account_id != PLACEHOLDER_ACCOUNT_ID:
        apply_account_id(cli, account_id)
    if getattr(cli, "command", "") in {"deploy", "update"}:
        cli.aws_environment_variables = resolve_references(cli.aws_environment_variables, cli.zappa.boto_session)


def apply_account_id(cli: Any, account_id: str) -> None:
    """Put ``account_id`` in every ARN of the settings Zappa will use."""

    def replace(value: Any) -> Any:
        if isinstance(value, str):
            return _ARN_ACCOUNT.sub(rf"\g<1>{account_id}:", value)
        if isinstance(value, list):
            return [replace(item) for item in value]
        if isinstance(value, dict):
            return {key: replace(item) for key, item in value.items()}
        return value

    # Zappa reads the stage's events from these settings when it packages and schedules;
    # the rest it copied into attributes when it loaded them.
    cli.zappa_settings = replace(cli.zappa_settings)
    for attribute in ("environment_variables", "aws_environment_variables", "dead_letter_config"):
        if hasattr(cli, attribute):
            setattr(cli, attribute, replace(getattr(cli, attribute)))


def resolve_references(variables: dict[str, str], session: Any) -> dict[str, str]:
    """``variables`` with ``ssm:`` and ``secretsmanager:`` references replaced by their values."""
    resolved = {}
    clients: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in clients:
            clients[name] = session.client(name)
        return clients[name]

    for name, value in variables.items():
        if value.startswith("ssm:"):
            response = client("ssm").get_parameter(Name=value[len("ssm:") :], WithDecryption=True)
            resolved[name] = response["Parameter"]["Value"]
        elif value.startswith("secretsmanager:"):
            secret_id, _, key = value[len("secretsmanager:") :].partition("#")
            secret = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            resolved[name] = json.loads(secret)[key] if key else secret
        else:
            resolved[name] = value
    return resolved


# --- package --------------------------------------------------------------------------------

# botocore service models the package keeps besides those of the function's IAM policy:
# Zappa's async-task module builds lambda, sns, sts and dynamodb clients when imported.
ZAPPA_SERVICES = {"lambda", "sns", "sts", "dynamodb"}
# Translations the package keeps: the console speaks English only (LANGUAGE_CODE "en-us",
# no LocaleMiddleware; tests/on_lambda/test_package.py checks both), so the catalogs and
# format modules of some 100 other languages (3 MB zipped) never load.
KEEP_LANGUAGES = {"en"}
# IAM action prefixes whose botocore service is named otherwise (mail goes through SES's
# v2 API: ses:SendEmail is the sesv2 client's SendEmail).
SERVICE_FOR_IAM_PREFIX = {"states": "stepfunctions", "execute-api": "apigatewaymanagementapi", "ses": "sesv2"}


def finish_package(cli: Any) -> None:
    finish(Path(cli.zip_path), keep_services=function_services(Path.cwd() / "infra" / "template.yaml"))


def function_services(template_path: Path) -> set[str]:
    """botocore service names the function may call: the prefixes of the actions its role's
    policies grant (infra/template.yaml), plus those Zappa's own modules need."""
    import yaml

    resources = yaml.safe_load(template_path.read_text())["Resources"]
    services = set(ZAPPA_SERVICES)
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": "FunctionRole"} not in properties.get("Roles", []):
            continue
        for statement in properties["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                prefix = action.split(":", 1)[0]
                services.add(SERVICE_FOR_IAM_PREFIX.get(prefix, prefix))
    return services


def finish(zip_path: Path, *, keep_services: set[str] | None = None) -> dict[str, int]:
    """Rewrite the package: botocore's service models cut to ``keep_services`` (when given),
    and unchecked-hash bytecode next to every module. Returns what it did."""
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as tmp:
        root = Path(tmp) / "package"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root)
        pruned = prune_botocore_models(root, keep_services) if keep_services is not None else 0
        languages = prune_translations(root, KEEP_LANGUAGES) if keep_services is not None else 0
        compiled = add_bytecode(root)
        rebuilt = zip_path.with_suffix(".rebuilding")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_dir():
                    continue
                info = zipfile.ZipInfo(str(path.relative_to(root)))
                info.create_system = 3  # Unix, so Lambda honours the permissions below
                info.external_attr = 0o755 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        rebuilt.replace(zip_path)
    return {"botocore_models_removed": pruned, "translations_removed": languages, "modules_compiled": compiled}


def prune_botocore_models(root: Path, keep_services: set[str]) -> int:
    """Remove the models of services the function never calls: botocore ships about 400
    (28 MB), the function calls a handful. A client for a removed service would raise
    UnknownServiceError; the IAM policy test makes every called service appear in the
    policy, and so in ``keep_services``. Returns the number of services removed."""
    data = root / "botocore" / "data"
    removed = 0
    for service in data.iterdir() if data.is_dir() else []:
        if service.is_dir() and service.name not in keep_services:
            shutil.rmtree(service)
            removed += 1
    return removed


def prune_translations(root: Path, keep: set[str]) -> int:
    """Remove ``<app>/locale/<language>/`` folders (gettext catalogs, Django's format
    modules) of languages not in ``keep``. Returns how many were removed."""
    removed = 0
    for language in [path for path in root.glob("**/locale/*") if path.is_dir()]:
        if language.name.split("_")[0] in keep:
            continue
        if (language / "LC_MESSAGES").is_dir() or (language / "formats.py").is_file():
            shutil.rmtree(language)
            removed += 1
    return removed


def add_bytecode(root: Path) -> int:
    """Compile every module under ``root`` to unchecked-hash bytecode. Returns the count."""
    for stale in root.rglob("__pycache__"):
        shutil.rmtree(stale, ignore_errors=True)
    compileall.compile_dir(
        str(root),
        quiet=2,  # modules that do not compile (Python 2 examples in some sdists) stay source only
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        stripdir=str(root),
        prependdir=LAMBDA_TASK_ROOT,
    )
    return sum(1 for _ in root.rglob("*.pyc"))


# --- event sources ------------------------------------------------------------------------


def sqs_event_source_arns(stage_config: dict[str, Any]) -> list[str]:
    return [
        event["event_source"]["arn"]
        for event in stage_config.get("events", [])
        if event.get("event_source", {}).get("arn", "").startswith("arn:aws:sqs:")
    ]


def enable_partial_batch_responses(cli: Any) -> list[str]:
    return set_partial_batch_responses(
        lambda_client=cli.zappa.lambda_client,
        # The ARN: AWS takes a name too, the local engine matches mappings by ARN only.
        function_name=getattr(cli, "lambda_arn", None) or cli.lambda_name,
        queue_arns=sqs_event_source_arns(cli.stage_config),
    )


def set_partial_batch_responses(*, lambda_client: Any, function_name: str, queue_arns: list[str]) -> list[str]:
    """Turn on ReportBatchItemFailures for the function's mappings of ``queue_arns``.
    Returns the UUIDs of the mappings it changed. A queue without a mapping is an error:
    the settings and the deployment disagree."""
    changed = []
    for queue_arn in queue_arns:
        mappings = lambda_client.list_event_source_mappings(FunctionName=function_name, EventSourceArn=queue_arn)[
            "EventSourceMappings"
        ]
        if not mappings:
            raise RuntimeError(f"{function_name} has no event source mapping for {queue_arn}; run `zappa schedule`")
        for mapping in mappings:
            if REPORT_BATCH_ITEM_FAILURES in mapping.get("FunctionResponseTypes", []):
                continue
            lambda_client.update_event_source_mapping(
                UUID=mapping["UUID"], FunctionResponseTypes=[REPORT_BATCH_ITEM_FAILURES]
            )
            changed.append(mapping["UUID"])
    return changed


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description="Zappa deployment steps Zappa does not take.")
    parser.add_argument("action", choices=["partial-batch-responses"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"))
    args = parser.parse_args(argv)
    stages = json.loads(args.settings.read_text())
    stage_config = dict(stages[args.stage])
    while "extends" in stage_config:
        parent = dict(stages[stage_config.pop("extends")])
        parent.update(stage_config)
        stage_config = parent
    session = boto3.session.Session(region_name=stage_config.get("aws_region"))
    account_id = os.environ.get("ZAPPA_ACCOUNT_ID") or session.client("sts").get_caller_identity()["Account"]
    function_name = (
        f"arn:aws:lambda:{session.region_name}:{account_id}:function:{stage_config['project_name']}-{args.stage}"
    )
    queue_arns = [_ARN_ACCOUNT.sub(rf"\g<1>{account_id}:", arn) for arn in sqs_event_source_arns(stage_config)]
    changed = set_partial_batch_responses(
        lambda_client=session.client("lambda"), function_name=function_name, queue_arns=queue_arns
    )
    print(json.dumps({"function": function_name, "changed": changed}))


if __name__ == "__main__":
    main()
