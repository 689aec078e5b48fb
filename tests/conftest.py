"""Shared fixtures. The local stack is real and runs what AWS runs: a moto server process
(the local AWS) with the stack deployed from infra/, and the consumer process running the
stage's Lambda functions (the API function's and the worker function's event sources and
schedules, each invocation in the function's own execution environments; the worker
function runs the Celery jobs), all talking to the test database."""

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

from console.aws import clients as aws
from console.aws import resources, s3
from console.devtools import devstack
from console.platform import roles
from orders.signals import orders_submitted

BASE_DIR = Path(__file__).resolve().parent.parent
# Logs, screenshots and the AWS call log of a run; TEST_ARTIFACTS_DIR keeps concurrent runs
# in one checkout apart.
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or BASE_DIR / "test-artifacts")
# Under pytest-xdist (make test runs two workers) each worker has its own local AWS, consumer
# and test database; the logs of its processes carry its name.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def log_name(stem: str) -> str:
    """``consumer.log``, or ``consumer-gw1.log`` in xdist worker gw1."""
    return f"{stem}-{WORKER}.log" if WORKER else f"{stem}.log"


# The browser journeys' Chromium fixture.
pytest_plugins = ["tests.browser"]
T = TypeVar("T")
LOCAL_SQS_METRICS_SECONDS = 2
# AWS's own metrics the local processes put (console/devtools/local_metrics.py): every 2 s.
LOCAL_AWS_METRICS_SECONDS = 2


def wait_for[T](predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@dataclass
class LocalAws:
    endpoint: str
    outputs: dict[str, str]
    process: subprocess.Popen | None


def _process_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
        "LOCAL_AWS_METRICS_SECONDS": str(LOCAL_AWS_METRICS_SECONDS),
        **extra,
    }


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ARTIFACTS
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def local_aws(artifacts_dir: Path):
    """A moto server process with Step Functions execution on and infra/ deployed to it."""
    from infra.deploy import deploy

    # `make mutate` starts one for every mutant's session (TEST_LOCAL_AWS_ENDPOINT): it is
    # deployed again here (the stack exists: seconds less) and left running.
    endpoint = os.environ.get("TEST_LOCAL_AWS_ENDPOINT", "")
    process = log = None
    if not endpoint:
        port = devstack.free_port()
        log = open(artifacts_dir / log_name("moto"), "w")
        process = subprocess.Popen(
            devstack.moto_command(port),
            cwd=BASE_DIR,
            # The AWS/SQS metrics the local AWS puts (AWS's own), every 2 s rather than every minute.
            env=_process_env(LOCAL_SQS_METRICS_SECONDS=str(LOCAL_SQS_METRICS_SECONDS)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        devstack.wait_for_port(port, process=process)
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: "ready" in (artifacts_dir / log_name("moto")).read_text(), timeout=15, what="moto ready")
    previous = settings.AWS_ENDPOINT_URL
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    settings.AWS_ENDPOINT_URL = endpoint
    aws.reset_clients()
    resources.reset_cache()
    _reset_celery()
    outputs = deploy(
        endpoint_url=endpoint,
        region=settings.AWS_REGION,
        stage=settings.STAGE,
        prefix=settings.RESOURCE_PREFIX,
        mail_from_address=settings.DEFAULT_FROM_EMAIL,
    )
    yield LocalAws(endpoint, outputs, process)
    settings.AWS_ENDPOINT_URL = previous
    aws.reset_clients()
    resources.reset_cache()
    _reset_celery()
    if process is not None:
        devstack.stop_process(process)
        log.close()


def _reset_celery() -> None:
    from console.runtime.celery import app, configure_broker

    # Connections made for the previous endpoint must not be reused.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    configure_broker(app)


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stack_env(local_aws: LocalAws, **extra: str) -> dict[str, str]:
    """The environment of the stack's processes: the test database, the local AWS, and the
    test settings' timings."""
    return _process_env(
        DJANGO_SETTINGS_MODULE="console.settings.dev",
        DATABASE_URL=database_url(),
        AWS_ENDPOINT_URL=local_aws.endpoint,
        # Fast inventory re-checks so the wait loop is testable.
        WORKFLOW_INVENTORY_RECHECK_SECONDS=str(settings.WORKFLOW_INVENTORY_RECHECK_SECONDS),
        WORKFLOW_APPROVAL_TIMEOUT_SECONDS=str(settings.WORKFLOW_APPROVAL_TIMEOUT_SECONDS),
        ORDER_VALIDATION_MAX_TOTAL=str(settings.ORDER_VALIDATION_MAX_TOTAL),
        WEBHOOK_RETRY_BASE_SECONDS=str(settings.WEBHOOK_RETRY_BASE_SECONDS),
        # Mail goes through SES (the local AWS's), as on Lambda; `make run` prints it instead.
        MAIL_BACKEND="console.aws.ses.EmailBackend",
        **extra,
    )


def start_consumer(env: dict[str, str], log_path: Path, *, skip_queues: list[str] = ()) -> subprocess.Popen:
    """The consumer process (``manage.py consume_queues``), once every queue it reads is polled."""
    from console.devtools.local_consumer import sqs_routes

    expected = len([route for route in sqs_routes(settings.STAGE) if route.queue_name not in skip_queues])
    log = open(log_path, "w")
    process = subprocess.Popen(
        devstack.consumer_command(skip_queues=skip_queues), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    wait_for(
        lambda: process.poll() is None and len(re.findall(r"\bpolling ", log_path.read_text())) >= expected,
        timeout=60,
        what=f"the consumer to poll its {expected} queues (see {log_path})",
    )
    return process


# The stack's consumer process, while the ``stack`` fixture runs (see stack_consumer_sigkill).
_STACK_CONSUMER: dict[str, subprocess.Popen] = {}


@pytest.fixture(scope="session")
def stack(local_aws: LocalAws, django_db_setup, django_db_blocker, artifacts_dir: Path):
    """The local AWS plus the consumer running the stage's functions, on the test database."""
    _STACK_CONSUMER["process"] = start_consumer(stack_env(local_aws), artifacts_dir / log_name("consumer"))
    yield local_aws
    devstack.stop_process(_STACK_CONSUMER.pop("process"))


def stack_consumer_sigkill(local_aws: LocalAws, *, restart: bool = True) -> None:
    """Kill the stack's consumer with SIGKILL (its execution environments die with it, as an
    invocation does when Lambda's host goes), and start a new one unless ``restart`` is
    False (then call again with ``restart=True`` to bring it back)."""
    process = _STACK_CONSUMER.pop("process", None)
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    if restart:
        _STACK_CONSUMER["process"] = start_consumer(
            stack_env(local_aws), ARTIFACTS / log_name(f"consumer-restarted-{int(time.time())}")
        )


@pytest.fixture(scope="session")
def websocket_gateway(stack: LocalAws, artifacts_dir: Path) -> str:
    """The local gateway of the WebSocket API (console/devtools/websocket_gateway.py) on the
    stack: its ``ws://`` address. The consumer pushes to the address each connection
    recorded, so the stack needs nothing more."""
    from console.devtools import websocket_gateway as gateway

    port, management_port = devstack.free_port(), devstack.free_port()
    api_id = gateway.websocket_api_id(
        endpoint_url=stack.endpoint, name=f"{settings.RESOURCE_PREFIX}-{settings.STAGE}-websocket"
    )
    with open(artifacts_dir / log_name("websocket-gateway"), "w") as log:
        process = subprocess.Popen(
            gateway.gateway_command(port=port, management_port=management_port, api_id=api_id, stage=settings.STAGE),
            cwd=BASE_DIR,
            env=stack_env(stack),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    devstack.wait_for_port(port, process=process)
    devstack.wait_for_port(management_port, process=process)
    yield f"ws://127.0.0.1:{port}"
    devstack.stop_process(process)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, its roles in place: one kept from an earlier run (``--reuse-db``,
    as ``make mutate`` runs) may have been flushed by that run's transactional tests."""
    from django.apps import apps

    with django_db_blocker.unblock():
        roles.sync_roles(apps)


# --- Emptying the database after a transactional test --------------------------------------


def _flush_retried_on_deadlock(original):
    """The flush (TRUNCATE) that ends a transactional test, tried again when PostgreSQL
    picks it as a deadlock's victim. The stack's consumer (or a journey's live server)
    may still be writing a row when the test ends: its insert and the TRUNCATE's locks
    then wait on each other and one is cancelled. The consumer's write is retried by SQS;
    the flush is retried here, after the other transaction is gone."""

    def deadlock(exc: BaseException | None) -> bool:
        # Django's flush command reports the database's error as a CommandError caused by it.
        while exc is not None:
            if "deadlock detected" in str(exc):
                return True
            exc = exc.__cause__ or exc.__context__
        return False

    def flush(self, *args, **kwargs):
        for attempt in range(1, 4):
            try:
                return original(self, *args, **kwargs)
            except Exception as exc:
                if attempt == 3 or not deadlock(exc):
                    raise
                time.sleep(0.5 * attempt)

    return flush


def pytest_configure(config):
    from django.test import TransactionTestCase

    if not getattr(TransactionTestCase._fixture_teardown, "retries_deadlocks", False):
        TransactionTestCase._fixture_teardown = _flush_retried_on_deadlock(TransactionTestCase._fixture_teardown)
        TransactionTestCase._fixture_teardown.retries_deadlocks = True


# --- The files bucket (media, and order CSV imports) -------------------------------------------

_FILES_NOTIFICATIONS: dict = {}


@pytest.fixture
def files_bucket_notifications(request):
    """The files bucket notifies its queue only during stack tests (media's and the imports'
    tests use this for every test).

    Other tests put objects under media/ and incoming/orders/ and call the handler
    themselves; their notifications would wait in the queue until a stack test starts the
    consumer, which would then import or process them into a later test's database.
    """
    if "local_aws" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("local_aws")
    client, bucket = aws.client("s3"), resources.files_bucket()
    if not _FILES_NOTIFICATIONS:
        configuration = client.get_bucket_notification_configuration(Bucket=bucket)
        configuration.pop("ResponseMetadata", None)
        _FILES_NOTIFICATIONS.update(configuration)
    wanted = _FILES_NOTIFICATIONS if request.node.get_closest_marker("stack") else {}
    client.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
    yield


@pytest.fixture
def files_bucket(local_aws) -> str:
    return resources.files_bucket()


@pytest.fixture
def put_object(files_bucket):
    """Put ``data`` in the files bucket (at ``key``, or a new key under tests/); returns
    what S3 says of the object."""

    def put(data: bytes, key: str | None = None, content_type: str = "text/csv") -> s3.ObjectInfo:
        key = key or f"tests/{uuid.uuid4()}.csv"
        aws.client("s3").put_object(Bucket=files_bucket, Key=key, Body=data, ContentType=content_type)
        return s3.head(bucket=files_bucket, key=key)

    return put


# --- Users ---------------------------------------------------------------------------------


def make_user(username: str, role: str | None, *, staff: bool = True):
    from django.apps import apps
    from django.contrib.auth import get_user_model

    if role and not Group.objects.filter(name=role).exists():
        # Transactional tests flush the tables, groups from the data migration included.
        roles.sync_roles(apps)

    user = get_user_model().objects.create_user(username=username, password="x-" + username, is_staff=staff)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db):
    return make_user("olivia-operator", roles.OPERATOR)


@pytest.fixture
def second_operator(db):
    return make_user("oscar-operator", roles.OPERATOR)


@pytest.fixture
def support_user(db):
    return make_user("sam-support", roles.SUPPORT)


@pytest.fixture
def admin_user(db):
    return make_user("alice-admin", roles.ADMIN)


@pytest.fixture
def superuser(db):
    user = make_user("root-superuser", None)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


@pytest.fixture
def api_user(db):
    return make_user("shop-backend", roles.API_CLIENT, staff=False)


@pytest.fixture
def api_token(api_user) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user=api_user)[1]


@pytest.fixture
def api(api_token):
    """A DRF test client authenticated with a bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    return client


def csrf_post(client, page_url: str, url: str, data: dict[str, Any] | None = None):
    """POST as a browser does: load the page, take its CSRF token, submit with it."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, "the page has no CSRF token"
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token.group(1)})


@pytest.fixture
def console_client(client):
    """A Django test client that enforces CSRF like a browser session."""
    from django.test import Client

    return Client(enforce_csrf_checks=True)


@pytest.fixture
def submitted_orders() -> list:
    """The ids of the orders that orders tells of as submitted (``orders_submitted``), in
    the order told; the apps that listen (workflows, which starts their workflows) are not
    told, so tests about orders run no workflow."""
    submitted: list = []

    def send(sender, *, order_ids, **kwargs) -> list:
        submitted.extend(order_ids)
        return []

    with mock.patch.object(orders_submitted, "send", side_effect=send):
        yield submitted


# --- Tests that need PostgreSQL ---------------------------------


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (row locks and concurrent writers): run with "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>; CI does"
        )
