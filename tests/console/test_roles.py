"""Every endpoint and console action, with every role: the outcome in
``role_expectations.py``, and no endpoint or action without a row there."""

import json
import re
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from console.platform import roles
from console.platform.audit import audit_record
from media.models import MediaAsset
from ops.event_sources import Mapping
from ops.queues import QueueOverview
from orders.imports.models import Import
from orders.lifecycle import OrderStatus
from orders.models import StockLevel
from orders.signals import orders_submitted
from tests.conftest import make_user
from tests.console import role_expectations as table
from tests.factories import OrderFactory
from tests.workflows.test_approvals import make_approval
from workflows.approvals.notifications import approval_link_token
from workflows.models import Execution

pytestmark = pytest.mark.django_db


def url_patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """(key, route) of every URL pattern: key is ``namespace:name``, or
    ``namespace:<route>`` for patterns without a name."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            yield namespace + (pattern.name or route), route


ROUTES = dict(url_patterns())


def test_every_endpoint_has_an_expectation_for_every_role():
    missing = sorted(set(ROUTES) - set(table.URLS))
    stale = sorted(set(table.URLS) - set(ROUTES))
    assert not missing, f"add rows to tests/console/role_expectations.py for: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"
    for key, cases in table.URLS.items():
        for case in cases:
            assert set(case.expect) == set(table.ROLES), f"{key} {case.method}: say what every role gets"


def fill(route: str, kwargs: dict) -> str:
    """The path of ``route`` (a path() or a regex route) with ``kwargs`` filled in."""

    def value(name: str) -> str:
        return str(kwargs[name])

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1)), route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m.group(1)), path)
    path = path.replace("^", "").replace("$", "").replace("/?", "/")
    return "/" + path


_SAMPLES = iter(range(1, 1_000_000))


def make_objects() -> SimpleNamespace:
    """One of each object the URLs point at (fresh ones for each role a change is tried
    with, so an earlier role's change does not decide a later role's outcome)."""
    from axes.models import AccessAttempt
    from knox.models import AuthToken

    n = next(_SAMPLES)
    # The first API client's: its order, import and upload (the second client's are none).
    owner = make_user(OWNER, roles.API_CLIENT, staff=False) if not _user(OWNER) else _user(OWNER)
    order = OrderFactory(created_by=owner)
    approval = make_approval(token=f"token-{n}")
    target = make_user(f"target-user-{n}", roles.SUPPORT)
    return SimpleNamespace(
        order=order,
        completed_order=OrderFactory(status=OrderStatus.COMPLETED, created_by=owner),
        approval=approval,
        execution=Execution.objects.get(pk=approval.execution_id),
        stock=StockLevel.objects.create(product_id=f"sku-{n}"),
        audit=audit_record(action="order.create", obj=order),
        user=target,
        group=Group.objects.get(name=roles.OPERATOR),
        token=AuthToken.objects.create(user=target)[0],
        attempt=AccessAttempt.objects.create(
            username=target.username, ip_address="10.0.0.1", user_agent="test", failures_since_start=1
        ),
        order_content_type=ContentType.objects.get_for_model(order).pk,
        link_token=approval_link_token(approval=approval, decision="approve"),
        **ops_objects(n),
        # Media and CSV ingestion
        import_run=Import.objects.create(
            bucket="ops-console-dev-files-123456789012",
            key=f"incoming/orders/roles-{n}.csv",
            version=f"etag-{n}",
            chunk_bytes=1024,
            created_by=owner,
        ),
        asset=MediaAsset.objects.create(
            file=f"media/roles-{n}/shelf.png", original_name="shelf.png", content_type="image/png", uploaded_by=owner
        ),
        **webhook_objects(owner, order),
    )


def webhook_objects(owner, order) -> dict:
    """The first API client's webhook endpoint and one of its deliveries."""
    from django.utils import timezone

    from webhooks.models import Delivery, Endpoint

    endpoint = Endpoint.objects.create(owner=owner, url="https://example.com/hooks", secret="whsec_c2VjcmV0")
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event_id=order.pk,
        event_type="OrderCreated",
        order_id=order.pk,
        payload={},
        event_created_at=timezone.now(),
    )
    return {"webhook_endpoint": endpoint, "webhook_delivery": delivery}


ROLES_DLQ = "ops-console-dev-roles-dlq"
OWNER = "role-api-client"


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first()


def ops_objects(n: int) -> dict:
    """A dead letter, a queued and a cancelled redrive job, an alarm in ALARM, and a job
    that failed for good."""
    from django.utils import timezone

    from ops.models import Alarm, DeadLetter, RedriveJob, TaskFailure

    dead_letter = DeadLetter.objects.create(
        queue_name=ROLES_DLQ, message_id=f"m-{n}", body="{}", body_sha256="s", fingerprint="f"
    )
    waiting = DeadLetter.objects.create(
        queue_name=ROLES_DLQ, message_id=f"w-{n}", body="{}", body_sha256="s", fingerprint="f"
    )
    cancelled = RedriveJob.objects.create(
        queue_name=ROLES_DLQ, target_queue="ops-console-dev-jobs", mode="all", status="cancelled", total=1
    )
    waiting.redrive_job = cancelled
    waiting.save(update_fields=["redrive_job"])
    return {
        "dead_letter": dead_letter,
        # Queued on another DLQ: a running redrive would (rightly) block purging this one.
        "redrive_job": RedriveJob.objects.create(
            queue_name=f"{ROLES_DLQ}-other", target_queue="ops-console-dev-jobs", mode="all"
        ),
        "cancelled_redrive_job": cancelled,
        "queue": "ops-console-dev-roles",
        "alarm": Alarm.objects.create(
            name=f"ops-console-dev-roles-{n}", state="ALARM", state_changed_at=timezone.now()
        ),
        "task_failure": TaskFailure.objects.create(
            task_id=f"roles-task-{n}", task="orders.export_to_file", args=[1, "", "k.csv"], error_type="E", error="e"
        ),
    }


def _ops_queue():
    from ops.sqs import DeadLetterQueue

    return DeadLetterQueue(
        name=ROLES_DLQ,
        url=f"http://sqs.local/123/{ROLES_DLQ}",
        arn=f"arn:aws:sqs:us-east-1:123:{ROLES_DLQ}",
        fifo=False,
        sources=["ops-console-dev-roles"],
        fed_by=["sqs"],
        visible=1,
    )


ROLES_QUEUE = "ops-console-dev-roles"


def _queue_mappings() -> list:
    arn = f"arn:aws:sqs:us-east-1:123:{ROLES_QUEUE}"
    return [
        Mapping(uuid="m-running", function="ops-console-dev", queue_arn=arn, state="Enabled", batch_size=10),
        Mapping(uuid="m-paused", function="ops-console-dev-worker", queue_arn=arn, state="Disabled", batch_size=10),
    ]


def _queue_overview():
    row = {
        "name": ROLES_QUEUE,
        "arn": f"arn:aws:sqs:us-east-1:123:{ROLES_QUEUE}",
        "fifo": False,
        "messages": 1,
        "inFlight": 0,
        "delayed": 0,
        "oldestAgeSeconds": None,
        "deadLetterQueue": ROLES_DLQ,
        "maxReceiveCount": 3,
        "isDeadLetterQueue": False,
        "consumers": [
            {"function": m.function, "handler": "", "state": m.state, "mappingId": m.uuid, "batchSize": 10}
            for m in _queue_mappings()
        ],
        "paused": False,
        "lastConsumerChange": None,
    }
    return QueueOverview(rows=[row])


def _empty_cost_report():
    from django.utils import timezone

    from ops import costs

    start, end = costs.month_bounds(timezone.now())
    areas = [costs.AreaCost(area) for area in costs.AREA_LABELS]
    return costs.CostReport("us-east-1", start, timezone.now(), end, areas, [], [])


@pytest.fixture
def objects(db):
    return make_objects()


@pytest.fixture
def users(db):
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    api_client_user = _user(OWNER) or make_user(OWNER, roles.API_CLIENT, staff=False)
    other_client_user = make_user("role-other-client", roles.API_CLIENT, staff=False)
    return {
        table.OPERATOR: make_user("role-operator", roles.OPERATOR),
        table.SUPPORT: make_user("role-support", roles.SUPPORT),
        table.ADMIN: make_user("role-admin", roles.ADMIN),
        table.SUPERUSER: get_user_model().objects.create_superuser("role-superuser", password="x-role-superuser"),
        table.API_CLIENT: AuthToken.objects.create(user=api_client_user)[1],
        table.OTHER_CLIENT: AuthToken.objects.create(user=other_client_user)[1],
    }


def client_as(role: str, users: dict) -> Client:
    if role in (table.API_CLIENT, table.OTHER_CLIENT):
        return Client(HTTP_AUTHORIZATION=f"Bearer {users[role]}")
    client = Client()
    if role != table.ANONYMOUS:
        client.force_login(users[role])
    return client


def outcome(response) -> str:
    status = response.status_code
    if status in (301, 302):
        return table.LOGIN if "/login/" in response["Location"] else table.OK
    return {401: table.UNAUTHORIZED, 403: table.FORBIDDEN, 404: table.MISSING}.get(
        status, table.OK if 200 <= status < 300 else f"HTTP {status}"
    )


@pytest.mark.parametrize("key", sorted(table.URLS))
def test_each_role_gets_what_the_table_says(key, objects, users):
    if key not in ROUTES:
        pytest.skip(f"{key} is not routed (test_every_endpoint_has_an_expectation... reports it)")
    wrong = []
    with (
        # The permission is what is tested: AWS answers come from these stand-ins.
        mock.patch("workflows.sfn.send_task_success", return_value="req-1"),
        mock.patch("workflows.sfn.send_task_failure", return_value="req-2"),
        mock.patch("workflows.sfn.describe_execution", return_value={"status": "RUNNING"}),
        mock.patch("workflows.sfn.current_state", return_value="RequestApproval"),
        # An execution's history, a stop and a saga's start (one patch: Python caps nested blocks).
        mock.patch.multiple(
            "workflows.sfn",
            execution_history_all=mock.Mock(return_value=[]),
            stop_execution=mock.Mock(return_value="req-6"),
            start_execution=mock.Mock(return_value="arn:aws:states:us-east-1:123:execution:saga:s"),
        ),
        mock.patch("console.aws.resources.state_machine_arn", return_value="arn:aws:states:us-east-1:123:sm:saga"),
        mock.patch.object(orders_submitted, "send", return_value=[]),  # no workflow starts
        # Dead-letter queues and alarms: the stage's queues, and the AWS calls their actions make.
        mock.patch("ops.sqs.dead_letter_queues", side_effect=lambda refresh=False: [_ops_queue()]),
        mock.patch("ops.sqs.stage_queue_names", return_value=[ROLES_DLQ, "ops-console-dev-jobs"]),
        mock.patch("ops.sqs.purge", return_value="req-3"),
        mock.patch("ops.sqs.start_message_move_task", return_value="handle-1"),
        mock.patch("ops.alarms.alarms_sync", return_value=0),
        # The jobs the actions queue by name (a redrive's run, "Archive now"): not run here.
        mock.patch("console.runtime.jobs.enqueue"),
        mock.patch.multiple(
            "ops.cloudwatch",
            disable_actions=mock.Mock(return_value="req-4"),
            enable_actions=mock.Mock(return_value="req-5"),
            alarm_history=mock.Mock(return_value=[]),
        ),
        # Queues: one mapping running and one paused, so both pause and resume change one.
        mock.patch.multiple(
            "ops.queues",
            queue_mappings=mock.Mock(side_effect=lambda name: _queue_mappings()),
            stage_queue_overview=mock.Mock(side_effect=lambda: _queue_overview()),
        ),
        mock.patch(
            "ops.event_sources.mapping_set_enabled", side_effect=lambda uuid, enabled: (_queue_mappings()[0], "r")
        ),
        # The order events topic's queue subscribers (webhook replays): none.
        mock.patch("webhooks.selectors.queue_subscribers", return_value=[]),
        # What the stage costs: the figures come from CloudWatch; an empty month here.
        mock.patch("ops.costs.cost_report", side_effect=lambda: _empty_cost_report()),
    ):
        for case in table.URLS[key]:
            for role in table.ROLES:
                sample = objects if case.method == "GET" else make_objects()
                path = fill(ROUTES[key], case.kwargs(sample))
                client = client_as(role, users)
                data = case.data(sample)
                if case.method == "GET":
                    response = client.get(path, case.query(sample))
                elif case.json:
                    response = client.generic(case.method, path, json.dumps(data), content_type="application/json")
                elif case.method == "POST":
                    response = client.post(path, data)
                else:
                    response = client.generic(case.method, path)
                got = outcome(response)
                if got != case.expect[role]:
                    wrong.append(f"{case.method} {path} as {role}: expected {case.expect[role]}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_every_admin_action_is_offered_to_exactly_the_roles_in_the_table(users):
    from django.contrib.admin.options import ActionLocation

    registered = {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()}
    assert set(registered) == set(table.ACTIONS), "add rows to role_expectations.ACTIONS"
    wrong = []
    for label, model_admin in registered.items():
        for location in ActionLocation:
            defined = {action.name for action in model_admin._get_base_actions(location)}
            assert defined <= set(table.ACTIONS[label]), f"{label}: actions {sorted(defined)} need rows"
            for role in table.STAFF:
                request = RequestFactory().get("/")
                request.user = users[role]
                offered = set(model_admin.get_actions(request, location))
                expected = {name for name in defined if role in table.ACTIONS[label][name]}
                if offered != expected:
                    wrong.append(
                        f"{label} ({location.name}) as {role}: offered {sorted(offered)}, not {sorted(expected)}"
                    )
    assert not wrong, "\n".join(wrong)


def test_the_roles_hold_exactly_their_permissions_after_migrating():
    for role, codenames in roles.ROLE_PERMISSIONS.items():
        held = {
            f"{app}.{codename}"
            for app, codename in Permission.objects.filter(group__name=role).values_list(
                "content_type__app_label", "codename"
            )
        }
        assert held == set(codenames), f"{role}: missing {set(codenames) - held}, extra {held - set(codenames)}"


def test_an_api_client_marked_as_staff_still_cannot_use_the_console():
    user = make_user("staff-by-mistake", roles.API_CLIENT, staff=True)
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    login = Client().post("/login/", {"username": "staff-by-mistake", "password": "x-staff-by-mistake"})
    assert login.status_code == 200 and b"API client account" in login.content  # the form again, not the console
