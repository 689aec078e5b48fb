"""Runs the reference architecture's integration tests (its section 13.2) as written.

They read the API URL from the ``ApiUrl`` output of the CloudFormation stack
``my-serverless-app`` and call ``get_test_token()``. Here that stack is our infra template
deployed under the reference architecture's stack name to the local AWS, with ``ApiUrl`` pointing at the
server under test, and ``get_test_token`` issues a real bearer token.

* In the suite: the server is pytest-django's live server on the local stack.
* ``make reference-test``: the server is a running ``make run`` (http://127.0.0.1:8000), and
  the stack goes to its local AWS (AWS_ENDPOINT_URL, default http://127.0.0.1:5000).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_STACK = "my-serverless-app"


def pytest_addoption(parser):
    parser.addoption("--reference-live-server", default=None, help="base URL of a running console (make run)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reference-live-server"):
        return
    # The reference tests declare no database use; the live server they call needs the test
    # database, and pytest-django creates it only for tests that ask.
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.django_db(transaction=True))
            item.add_marker(pytest.mark.stack)


def _deploy_reference_stack(endpoint: str, api_url: str) -> None:
    from infra.deploy import deploy

    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    deploy(endpoint_url=endpoint, stage="seed", stack_name=REFERENCE_STACK, api_url=api_url)


@pytest.fixture(scope="session", autouse=True)
def reference_environment(request):
    """Runs before the reference module's own session fixture (``setup``) reads the stack."""
    remote = request.config.getoption("--reference-live-server")
    if remote:
        _deploy_reference_stack(
            os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), remote.rstrip("/") + "/api"
        )
        token = subprocess.run(
            [sys.executable, "manage.py", "issue_token", "reference-tests"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {"token": token}
    stack = request.getfixturevalue("stack")
    live_server = request.getfixturevalue("live_server")
    previous = os.environ.get("AWS_ENDPOINT_URL")
    _deploy_reference_stack(stack.endpoint, f"{live_server.url}/api")
    request.addfinalizer(
        lambda: os.environ.pop("AWS_ENDPOINT_URL") if previous is None else os.environ.update(AWS_ENDPOINT_URL=previous)
    )
    return {"token": None}


@pytest.fixture(autouse=True)
def get_test_token(request, reference_environment):
    """Gives the reference module the ``get_test_token()`` it calls."""
    token = reference_environment["token"]
    if token is None:
        request.getfixturevalue("transactional_db")
        from knox.models import AuthToken

        from console.platform import roles
        from tests.conftest import make_user

        token = AuthToken.objects.create(user=make_user("reference-tests", roles.API_CLIENT, staff=False))[1]
        # The orders a test created go on in the stack's worker and consumer processes: let
        # them reach the approval before the database is flushed under them.
        request.addfinalizer(_orders_at_rest)
    request.module.get_test_token = lambda: token


def _orders_at_rest() -> None:
    from orders.lifecycle import OrderStatus
    from orders.models import Order
    from tests.conftest import wait_for
    from workflows.models import Approval

    def at_rest() -> bool:
        moving = Order.objects.filter(status__in=[OrderStatus.CREATED, OrderStatus.VALIDATED]).exists()
        waiting = Order.objects.filter(status=OrderStatus.AWAITING_APPROVAL).exclude(
            pk__in=Approval.objects.values("order_id")
        )
        return not moving and not waiting.exists()

    wait_for(at_rest, timeout=60, interval=0.2, what="the reference tests' orders to reach their approval")
