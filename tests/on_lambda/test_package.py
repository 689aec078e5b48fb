"""The Lambda package `make package` builds, run as Lambda runs it.

The package is built once per session (``tests/lambda_packages.py``, shared with the deploy
rehearsal: ``infra.package``, Zappa packing the runtime lock installed as manylinux wheels
of this machine's architecture, bytecode), unpacked into a read-only folder, and served
events by a fresh ``python -I -S -B`` process whose only import path besides the standard
library is the package, on the test database, with the production settings.
"""

import base64
import gzip
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from knox.models import AuthToken

from infra import package as packaging
from tests.conftest import database_url
from tests.factories import OrderFactory
from tests.lambda_packages import lambda_package as built_package
from tests.on_lambda import events

RUNNER = Path(__file__).resolve().parent / "package_runner.py"
APPROVALS_ARN = "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-approvals"


@pytest.fixture(scope="session")
def lambda_package() -> packaging.PackageReport:
    return built_package("dev")


@pytest.fixture(scope="session")
def unpacked(lambda_package, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lambda-task") / "task"
    with zipfile.ZipFile(lambda_package.path) as archive:
        archive.extractall(folder)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def run_package(
    folder: Path, event_list: list[dict], tmp_path: Path, *, mode: str = "", **extra_env: str
) -> tuple[dict, str]:
    events_file, out_file = tmp_path / "events.json", tmp_path / "out.json"
    events_file.write_text(json.dumps(event_list))
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_FUNCTION_NAME": "ops-console-dev",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DATABASE_URL": database_url(),
        "DJANGO_SECRET_KEY": "package-test-" + "s" * 50,
        **extra_env,
    }
    files_before = sum(1 for _ in folder.rglob("*"))
    process = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            str(RUNNER),
            str(folder),
            str(events_file),
            str(out_file),
            *([mode] if mode else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert sum(1 for _ in folder.rglob("*")) == files_before, "the run wrote into the package"
    # Lambda sends both streams to CloudWatch Logs: log records go to stderr, EMF to stdout.
    return json.loads(out_file.read_text()), process.stdout + process.stderr


def test_the_package_holds_the_runtime_only_and_fits_lambda(lambda_package):
    assert lambda_package.zipped_bytes <= 40 * 1024 * 1024
    assert lambda_package.unzipped_bytes <= 150 * 1024 * 1024
    with zipfile.ZipFile(lambda_package.path) as archive:
        names = archive.namelist()
        generated = archive.read("zappa_settings.py").decode()
    top_level = {name.split("/", 1)[0] for name in names}
    assert not top_level & {"moto", "pytest", "_pytest", "factory", "ruff", "cfnlint", "tests", "bench", "infra"}
    assert not top_level & {"troposphere", "setuptools", "pip", "requests", "pycurl"}
    assert not [name for name in top_level if name.startswith(".")], "hidden files of the project went in"
    assert "console/runtime/__pycache__/lambda_handler.cpython-312.pyc" in names
    # The SQS handlers' partial batch responses (Powertools' batch utility).
    assert "aws_lambda_powertools/utilities/batch/__pycache__/base.cpython-312.pyc" in names
    # Bytecode is hash-based and unchecked (flags 0b01), so file times do not matter.
    with zipfile.ZipFile(lambda_package.path) as archive:
        header = archive.read("console/runtime/__pycache__/lambda_handler.cpython-312.pyc")[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01
    # Only the function's services keep their botocore models.
    models = {name.split("/")[2] for name in names if name.startswith("botocore/data/") and name.count("/") > 3}
    assert {"sqs", "stepfunctions", "lambda", "sts"} <= models and "ec2" not in models
    assert "DJANGO_SETTINGS='console.settings.production'" in generated
    assert "DEBUG=False" in generated


@pytest.mark.django_db(transaction=True)
def test_the_unpacked_package_serves_every_kind_of_event(unpacked, api_user, tmp_path):
    order = OrderFactory(created_by=api_user)
    token = AuthToken.objects.create(user=api_user)[1]
    manifest = json.loads((unpacked / "staticfiles" / "staticfiles.json").read_text())["paths"]
    css = f"/static/{manifest['admin/css/base.css']}"
    event_list = [
        events.rest_api_event("GET", "/api/orders", headers={"Authorization": f"Bearer {token}"}),
        events.rest_api_event("GET", "/api/schema", headers={"Authorization": f"Bearer {token}"}),
        events.rest_api_event("GET", "/login/"),
        events.rest_api_event("GET", css),
        events.rest_api_event("GET", css, headers={"Accept-Encoding": "gzip"}),
        events.sqs_event(APPROVALS_ARN),
        events.sqs_event("arn:aws:sqs:us-east-2:123456789012:my-queue"),
    ]

    out, stdout = run_package(unpacked, event_list, tmp_path)

    api, schema, login, static, compressed, batch, unrouted = out["results"]
    assert api["response"]["statusCode"] == 200, api
    assert [o["orderId"] for o in json.loads(api["response"]["body"])["results"]] == [str(order.pk)]
    # A cold start on the API loads neither the schema generator nor the static files'
    # index; the schema has them all.
    first = set(out["loaded_after_first_event"])
    assert not first & {"drf_spectacular.openapi", "django.test", "unittest"}
    assert "aws_lambda_powertools.utilities.batch" not in first  # the SQS handlers load it
    assert not {name for name in first if name.split(".")[0] in ("boto3", "botocore", "s3transfer")}
    # Loaded later, on first use, they are whole: the module that imported boto3 at start-up
    # reads the real one, and Powertools' session initializer (registered then) is in place.
    aws = out["aws"]
    assert aws["presigned_url"].startswith("https://") and "X-Amz-Signature=" in aws["presigned_url"]
    assert aws["boto3_loaded_as"] == aws["botocore_loaded_as"] == "module"
    assert aws["zappa_sees_the_real_session"] is True
    assert aws["powertools_initializer_registered"] is True
    assert schema["response"]["statusCode"] == 200, schema
    schema_text = schema["response"]["body"]
    if schema["response"].get("isBase64Encoded"):
        schema_text = base64.b64decode(schema_text).decode()
    assert "operationId: orders_list" in schema_text  # YAML, named by @extend_schema
    assert "bearerAuth:" in schema_text
    assert login["response"]["statusCode"] == 200, login
    # Static URLs carry the API stage and the manifest's hashed names.
    assert f"/dev{css}" in login["response"]["body"]
    assert static["response"]["statusCode"] == 200
    assert static["response"]["headers"]["Content-Type"].startswith("text/css")
    assert "immutable" in static["response"]["headers"]["Cache-Control"]
    assert compressed["response"]["headers"]["Content-Encoding"] == "gzip"
    assert compressed["response"]["isBase64Encoded"] is True
    body = gzip.decompress(base64.b64decode(compressed["response"]["body"])).decode()
    assert body == static["response"]["body"]
    # Neither sample message is an approval task: both reported, the batch not raised.
    failed = [item["itemIdentifier"] for item in batch["response"]["batchItemFailures"]]
    assert failed == [record["messageId"] for record in event_list[5]["Records"]] and len(failed) == 2
    assert unrouted["error"] == "UnroutedEvent"
    assert out["imported_from_outside"] == []

    # Logs are JSON lines with the invocation's ids; metrics are EMF documents.
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    access = [line for line in lines if "GET /api/orders" in line.get("message", "")]
    assert access and access[0]["function_request_id"] == api["request_id"] and access[0]["cold_start"] is True
    metrics = [line for line in lines if "_aws" in line]
    assert any(m.get("ColdStart") == [1.0] and m["_aws"]["CloudWatchMetrics"][0]["Namespace"] for m in metrics)
    assert sum(m.get("FailedMessages", [0])[0] for m in metrics) == 2


@pytest.mark.django_db(transaction=True)
def test_under_snapstart_the_package_sets_up_before_the_snapshot_and_restores_apart(unpacked, api_user, tmp_path):
    """SnapStart as Lambda runs it: the handler imported, the before-snapshot hooks run, then
    two environments restored from that one process (forked), each with credentials of its
    own, running the after-restore hooks and serving a request."""
    order = OrderFactory(created_by=api_user)
    token = AuthToken.objects.create(user=api_user)[1]
    event_list = [events.rest_api_event("GET", "/api/orders", headers={"Authorization": f"Bearer {token}"})]

    out, stdout = run_package(
        unpacked, event_list, tmp_path, mode="restore", AWS_LAMBDA_INITIALIZATION_TYPE="snap-start"
    )

    snapshot, restored = out["snapshot"], out["restored"]
    assert snapshot["hooks"] == ["prepare_snapshot"]
    # Nothing deferred: everything a request needs is imported before the snapshot, and no
    # database connection is in it.
    assert snapshot["stand_ins"] == [] and snapshot["open_connections"] == []
    prepared = [json.loads(line) for line in stdout.splitlines() if "snapshot prepared" in line]
    assert prepared, stdout[-3000:]
    for environment in restored:
        assert environment["exit_status"] == 0 and "error" not in environment, environment
        assert environment["hooks"] == ["refresh_after_restore"]
        (api,) = environment["results"]
        assert api["response"]["statusCode"] == 200, api
        assert [o["orderId"] for o in json.loads(api["response"]["body"])["results"]] == [str(order.pk)]
        # The request loaded no framework or application module: they were all in the snapshot.
        late = [name for name in environment["loaded_after_restore"] if name.split(".")[0] in LOADED_BEFORE_SNAPSHOT]
        assert late == [], late
        # AWS clients are built anew, with the restored environment's own credentials.
        assert environment["client_is_the_snapshots"] is False
    assert [environment["client_access_key"] for environment in restored] == ["RESTORED0", "RESTORED1"]
    # Each environment has its own random state, ids and database session.
    first, second = restored
    assert first["random"] != second["random"] and first["uuid"] != second["uuid"]
    if snapshot["backend"].startswith("pid"):
        assert len({snapshot["backend"], first["backend"], second["backend"]}) == 3
    else:
        assert first["backend"] == second["backend"] == "open"
    # Each restored environment's first invocation is its cold start.
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert sum(1 for m in lines if m.get("ColdStart") == [1.0]) == 2


# Top-level packages a request after a restore must find loaded already.
LOADED_BEFORE_SNAPSHOT = {
    "django",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "console",
    "orders",
    "workflows",
    "ops",
    "media",
    "webhooks",
    "realtime",
    "boto3",
    "botocore",
    "psycopg",
    "aws_lambda_powertools",
}


def test_the_package_builds_without_the_development_environment(lambda_package):
    """The build's virtualenv holds the runtime requirements only."""
    result = subprocess.run(
        [
            str(packaging.venv_python()),
            "-c",
            "import importlib.util as u; print([m for m in ('moto', 'pytest', 'ruff', 'factory') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    # requirements.txt is the runtime lock: each package's "name==version \" line, hashes below.
    pinned = {
        re.split(r"[=\[]", line)[0].lower()
        for line in (packaging.ROOT / "requirements.txt").read_text().splitlines()
        if line[:1].isalnum()
    }
    assert {"django", "zappa", "aws-lambda-powertools", "whitenoise", "botocore"} <= pinned
