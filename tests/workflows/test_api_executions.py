"""REST for executions and the saga: the list, one execution with Step Functions' history,
stop and restart with the console's rules and audit, and starting the saga. Refusals here
against the database and AWS's documented answers (botocore's Stubber); the whole story
against the local stack's real engine at the end."""

import pytest
from botocore.stub import Stubber
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.aws import clients as aws
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order, StockLevel
from tests.conftest import wait_for
from tests.factories import OrderFactory
from tests.workflows.conftest import make_pending_approval
from tests.workflows.test_stop_and_resume import NOW, running_execution, stub_running
from workflows import sfn
from workflows.models import Approval, Execution, StepRun


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def recorded(status: str = Execution.Status.SUCCEEDED, machine: str = "order-processing", **fields) -> Execution:
    """An execution as recorded, never started on an engine (no ARN: nothing to ask AWS)."""
    order = OrderFactory()
    return Execution.objects.create(
        order=order, name=f"{machine}-{order.pk}", state_machine=machine, status=status, **fields
    )


# --- Reads -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_list_executions_newest_first_filtered_by_status_and_machine(operator):
    done, failed = recorded(), recorded(Execution.Status.FAILED, error="PaymentDeclined")
    saga = recorded(Execution.Status.RUNNING, machine="order-saga")
    client = token_client(operator)

    def listed(query: str = "") -> list[int]:
        response = client.get(f"/api/executions{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert listed() == [saga.pk, failed.pk, done.pk]
    assert listed("?status=FAILED") == [failed.pk]
    assert listed("?stateMachine=order-saga") == [saga.pk]
    assert listed(f"?orderId={str(done.order_id)[:8]}") == [done.pk]
    row = client.get("/api/executions?status=FAILED").json()["results"][0]
    assert (row["error"], row["restartable"], row["stoppable"]) == ("PaymentDeclined", True, False)


@pytest.mark.django_db
def test_an_execution_not_started_answers_without_asking_step_functions(operator):
    execution = recorded(Execution.Status.PENDING)
    body = token_client(operator).get(f"/api/executions/{execution.pk}").json()
    assert body["id"] == execution.pk and body["orderId"] == str(execution.order_id)
    assert (body["history"], body["historyError"], body["steps"], body["restarts"]) == (None, "", [], [])


@pytest.mark.django_db
def test_the_history_comes_from_step_functions_and_the_steps_from_our_records(operator):
    approval = make_pending_approval("tok-api-history")
    execution = running_execution(approval)
    StepRun.objects.create(execution=execution, step="ValidateOrder", token_sha256="v", status="SUCCEEDED")
    entered = {
        "id": 2,
        "type": "TaskStateEntered",
        "timestamp": NOW,
        "stateEnteredEventDetails": {"name": "RequestApproval"},
    }
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_response("get_execution_history", {"events": [entered]}, None)
        body = token_client(operator).get(f"/api/executions/{execution.pk}").json()
        stubber.assert_no_pending_responses()
    assert [state["name"] for state in body["history"]["states"]] == ["RequestApproval"]
    assert body["history"]["states"][0]["outcome"] == "running"
    assert [step["step"] for step in body["steps"]] == ["ValidateOrder"]


@pytest.mark.django_db
def test_a_history_step_functions_cannot_give_is_said_not_failed(operator, settings):
    execution = running_execution(make_pending_approval("tok-api-no-history"))
    settings.AWS_ENDPOINT_URL = None
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_client_error("get_execution_history", service_error_code="ExecutionDoesNotExist")
        response = token_client(operator).get(f"/api/executions/{execution.pk}")
    assert response.status_code == 200
    assert response.json()["history"] is None and "ExecutionDoesNotExist" in response.json()["historyError"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/executions/999999", "/api/executions/999999/stop"])
def test_unknown_executions_are_404s(support_user, path):
    client = token_client(support_user)
    response = client.get(path) if path.endswith("999999") else client.post(path, {"reason": "x"}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [("status=LOST", "status"), ("cursor=x", "cursor")])
def test_bad_filters_are_400s_naming_the_field(operator, query, field):
    response = token_client(operator).get(f"/api/executions?{query}")
    assert response.status_code == 400 and field in response.json()["errors"]


@pytest.mark.django_db
def test_api_clients_see_no_executions_and_operators_change_none(api, operator):
    execution = running_execution(make_pending_approval("tok-api-perm"))
    assert api.get("/api/executions").status_code == 403
    assert api.get(f"/api/executions/{execution.pk}").status_code == 403
    client = token_client(operator)
    for action in ("stop", "restart"):
        assert (
            client.post(f"/api/executions/{execution.pk}/{action}", {"reason": "x"}, format="json").status_code == 403
        )
    assert client.post("/api/sagas", {"orderId": str(execution.order_id)}, format="json").status_code == 403
    execution.refresh_from_db()
    assert execution.stop_requested_at is None and not AuditEntry.objects.exists()


# --- Stop and restart: the engine's refusals -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"reason": "   "}, {"reason": "x" * 2001}])
def test_a_stop_needs_a_reason(support_user, body):
    execution = running_execution(make_pending_approval("tok-api-reason"))
    response = token_client(support_user).post(f"/api/executions/{execution.pk}/stop", body, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]


@pytest.mark.django_db
def test_what_the_engine_cannot_do_is_a_409_and_changes_nothing(support_user):
    client = token_client(support_user)
    done = recorded()
    response = client.post(f"/api/executions/{done.pk}/stop", {"reason": "too late"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_stoppable"
    waiting = recorded(Execution.Status.PENDING)
    response = client.post(f"/api/executions/{waiting.pk}/restart", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_restartable"
    assert "failed, timed out or aborted" in response.json()["detail"]
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_step_functions_unavailable_is_a_503_to_retry(support_user, settings):
    execution = running_execution(make_pending_approval("tok-api-503"))
    settings.AWS_ENDPOINT_URL = None
    with Stubber(aws.client("stepfunctions")) as stubber:
        stub_running(stubber, execution.arn)
        stubber.add_client_error("stop_execution", service_error_code="ServiceUnavailable", http_status_code=503)
        response = token_client(support_user).post(
            f"/api/executions/{execution.pk}/stop", {"reason": "wrong customer"}, format="json"
        )
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.json()["code"] == "ServiceUnavailable"
    assert Order.objects.get(pk=execution.order_id).status == OrderStatus.AWAITING_APPROVAL


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["stop", "restart"])
def test_an_execution_step_functions_no_longer_knows_is_a_409(support_user, settings, action):
    # Found by fuzzing: a record whose ARN the engine does not know (gone after its retention).
    execution = running_execution(make_pending_approval(f"tok-api-gone-{action}"))
    settings.AWS_ENDPOINT_URL = None
    with Stubber(aws.client("stepfunctions")) as stubber:
        stubber.add_client_error("describe_execution", service_error_code="ExecutionDoesNotExist")
        response = token_client(support_user).post(
            f"/api/executions/{execution.pk}/{action}", {"reason": "gone"}, format="json"
        )
    assert response.status_code == 409 and response.json()["code"] == "not_in_engine"
    assert Order.objects.get(pk=execution.order_id).status == OrderStatus.AWAITING_APPROVAL
    assert not AuditEntry.objects.exists()


# --- The saga: input -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "orderId"),
        ({"orderId": "not-a-uuid"}, "orderId"),
        ({"orderId": "00000000-0000-0000-0000-000000000000"}, "orderId"),
        ({"orderId": "ORDER", "failAt": "Shipping"}, "failAt"),
    ],
)
def test_a_saga_needs_an_existing_order_and_a_known_step(admin_user, body, field):
    order = OrderFactory()
    body = {key: str(order.pk) if value == "ORDER" else value for key, value in body.items()}
    response = token_client(admin_user).post("/api/sagas", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Execution.objects.exists()


@pytest.mark.django_db
def test_failure_drills_are_a_400_where_they_are_off(admin_user, settings):
    settings.SAGA_FAILURE_DRILLS = False
    order = OrderFactory()
    response = token_client(admin_user).post(
        "/api/sagas", {"orderId": str(order.pk), "failAt": "ProcessPayment"}, format="json"
    )
    assert response.status_code == 400 and "SAGA_FAILURE_DRILLS" in response.json()["errors"]["failAt"][0]
    assert not Execution.objects.exists()


# --- On the local stack ------------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_client_stops_reads_and_restarts_an_order_workflow_and_starts_a_saga(stack, support_user, admin_user):
    from orders.services import order_create
    from workflows.executions import workflow_start

    support, admin = token_client(support_user), token_client(admin_user)
    order = order_create(
        user_id="api-stop", items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}],
        start_workflow=False,
    )  # fmt: skip
    first = workflow_start(order_id=order.pk)
    wait_for(
        lambda: Approval.objects.filter(execution=first, status=Approval.Status.PENDING).exists(),
        timeout=30,
        what="the approval",
    )

    response = support.post(f"/api/executions/{first.pk}/stop", {"reason": "customer asked to hold it"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["stopReason"] == "customer asked to hold it" and response.json()["stopRequestedAt"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    again = support.post(f"/api/executions/{first.pk}/stop", {"reason": "twice"}, format="json")
    assert again.status_code == 409 and "already requested" in again.json()["detail"]

    # The local engine ends the stopped execution once its approval task is answered.
    wait_for(lambda: sfn.describe_execution(execution_arn=first.arn)["status"] != "RUNNING", timeout=20, what="end")
    detail = support.get(f"/api/executions/{first.pk}").json()
    assert detail["status"] in {"ABORTED", "FAILED"} and detail["restartable"] is True
    states = [state["name"] for state in detail["history"]["states"]]
    assert states[-1] == "RequestApproval" and "ValidateOrder" in states
    assert [step["step"] for step in detail["steps"]] == ["ValidateOrder", "CheckInventory"]

    response = support.post(f"/api/executions/{first.pk}/restart", {"reason": "held"}, format="json")
    assert response.status_code == 200, response.content
    restarted = response.json()
    assert (restarted["restartedFrom"], restarted["resumedAt"], restarted["status"]) == (
        first.pk,
        "RequestApproval",
        "RUNNING",
    )
    assert [r["id"] for r in support.get(f"/api/executions/{first.pk}").json()["restarts"]] == [restarted["id"]]

    audit = support.get(f"/api/audit?objectType=workflows.execution&objectId={first.pk}").json()["results"]
    assert [(e["action"], e["source"], e["actor"]) for e in audit] == [
        ("execution.restart", "api", "sam-support"),
        ("execution.stop", "api", "sam-support"),
    ]

    StockLevel.objects.create(product_id="api-saga", available=5)
    saga_order = OrderFactory(items=[{"product_id": "api-saga", "name": "Widget", "quantity": 2, "price": 5}])
    response = admin.post("/api/sagas", {"orderId": str(saga_order.pk), "failAt": "ConfirmOrder"}, format="json")
    assert response.status_code == 201, response.content
    saga = response.json()
    assert response.headers["Location"].endswith(f"/api/executions/{saga['id']}")
    assert (saga["stateMachine"], saga["status"]) == ("order-saga", "RUNNING")
    wait_for(
        lambda: sfn.describe_execution(execution_arn=saga["arn"])["status"] != "RUNNING", timeout=45, what="saga end"
    )
    listed = admin.get("/api/executions?stateMachine=order-saga").json()["results"]
    assert [row["id"] for row in listed] == [saga["id"]]
    steps = [step["step"] for step in admin.get(f"/api/executions/{saga['id']}").json()["steps"]]
    assert steps == ["ReserveInventory", "ProcessPayment", "ConfirmOrder", "RollbackPayment", "RollbackInventory"]
    assert StockLevel.objects.get(product_id="api-saga").available == 5
    entry = AuditEntry.objects.get(action="saga.start")
    assert (entry.source, entry.actor, entry.after["failAt"]) == ("api", admin_user, "ConfirmOrder")
