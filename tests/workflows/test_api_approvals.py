"""REST endpoints for approvals: permission-checked, the project's problem shape, 409 when
the approval cannot take the decision."""

from decimal import Decimal
from unittest import mock

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.workflows.conftest import make_pending_approval
from workflows.models import Approval

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def test_the_list_is_pending_approvals_oldest_first(operator):
    first = make_pending_approval("a", user_id="first")
    second = make_pending_approval("b", user_id="second", total=Decimal("9000"))
    decided = make_pending_approval("c")
    Approval.objects.filter(pk=decided.pk).update(status=Approval.Status.APPROVED)
    response = client_for(operator).get("/api/approvals")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [first.pk, second.pk]
    assert results[1]["userId"] == "second" and results[1]["total"] == 9000.0
    assert results[1]["requiredApprovals"] == 2 and results[0]["items"] == "2 × Widget"
    assert "taskToken" not in str(results) and "a" not in [r.get("task_token") for r in results]
    by_prefix = client_for(operator).get("/api/approvals", {"orderId": str(first.order_id)[:8]}).json()
    assert [r["id"] for r in by_prefix["results"]] == [first.pk]
    assert client_for(operator).get("/api/approvals", {"status": "nope"}).json()["errors"]["status"]


def test_approve_and_reject(operator, second_operator):
    approval = make_pending_approval("a")
    other = make_pending_approval("b")
    with mock.patch("workflows.sfn.send_task_success", return_value="req-1") as send:
        response = client_for(operator).post(f"/api/approvals/{approval.pk}/approve", {"note": "ok"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "APPROVED" and body["decidedBy"] == "olivia-operator" and body["deliveredAt"]
    assert send.call_args.kwargs["output"]["note"] == "ok"

    no_reason = client_for(second_operator).post(f"/api/approvals/{other.pk}/reject", {}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["errors"]["reason"]
    with mock.patch("workflows.sfn.send_task_failure", return_value="req-2"):
        rejected = client_for(second_operator).post(
            f"/api/approvals/{other.pk}/reject/", {"reason": "fraud"}, format="json"
        )
    assert rejected.status_code == 200 and rejected.json()["reason"] == "fraud"


def test_a_decided_approval_answers_409_in_the_problem_shape(operator, second_operator):
    approval = make_pending_approval("a")
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        client_for(operator).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")
        again = client_for(second_operator).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")
    assert send.call_count == 1
    assert again.status_code == 409
    problem = again.json()
    assert problem["status"] == 409 and problem["code"] == "not_pending"
    assert "Already approved by olivia-operator" in problem["detail"]


def test_four_eyes_over_the_api(operator, second_operator):
    approval = make_pending_approval("a", total=Decimal("9000"))
    with mock.patch("workflows.sfn.send_task_success", return_value="req") as send:
        first = client_for(operator).post(f"/api/approvals/{approval.pk}/approve", {"note": "1"}, format="json")
        same = client_for(operator).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")
        second = client_for(second_operator).post(f"/api/approvals/{approval.pk}/approve", {"note": "2"}, format="json")
    assert first.status_code == 200 and first.json()["status"] == "PENDING"
    assert [v["by"] for v in first.json()["approvals"]] == ["olivia-operator"]
    assert same.status_code == 409 and "different operator" in same.json()["detail"]
    assert second.json()["status"] == "APPROVED"
    assert [v["by"] for v in second.json()["approvals"]] == ["olivia-operator", "oscar-operator"]
    assert send.call_count == 1


def test_claim_unclaim_and_assign(operator, second_operator):
    approval = make_pending_approval("a")
    claimed = client_for(operator).post(f"/api/approvals/{approval.pk}/claim")
    assert claimed.status_code == 200 and claimed.json()["claimedBy"] == "olivia-operator"
    assert client_for(second_operator).post(f"/api/approvals/{approval.pk}/claim").status_code == 409
    mine = client_for(operator).get("/api/approvals", {"claimed": "me"}).json()["results"]
    assert [r["id"] for r in mine] == [approval.pk]
    unknown = client_for(operator).post(f"/api/approvals/{approval.pk}/assign", {"username": "nobody"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"]["username"]
    assigned = client_for(operator).post(
        f"/api/approvals/{approval.pk}/assign", {"username": "oscar-operator"}, format="json"
    )
    assert assigned.json()["claimedBy"] == "oscar-operator"
    assert client_for(second_operator).post(f"/api/approvals/{approval.pk}/unclaim").json()["claimedBy"] is None


def test_permissions(api, support_user, client):
    approval = make_pending_approval("a")
    # API clients (storefronts) neither see nor decide approvals.
    assert api.get("/api/approvals").status_code == 403
    assert api.post(f"/api/approvals/{approval.pk}/approve", {}, format="json").status_code == 403
    # Support staff see them but cannot decide.
    support = client_for(support_user)
    assert support.get(f"/api/approvals/{approval.pk}").status_code == 200
    with mock.patch("workflows.sfn.send_task_success") as send:
        denied = support.post(f"/api/approvals/{approval.pk}/approve", {}, format="json")
    assert denied.status_code == 403 and denied.json()["status"] == 403
    send.assert_not_called()
    assert client.get("/api/approvals").status_code in {401, 403}
    assert support.get("/api/approvals/999999").status_code == 404


def test_the_openapi_schema_describes_the_approval_routes(operator):
    from drf_spectacular.settings import spectacular_settings

    # The project's generator (console.api.schema), as the schema view and command use.
    schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    paths = {path.rstrip("/"): item for path, item in schema["paths"].items()}
    assert "/api/approvals" in paths and "/api/approvals/{approval_id}/approve" in paths
    responses = paths["/api/approvals/{approval_id}/approve"]["post"]["responses"]
    assert {"200", "403", "409"} <= set(responses)


def test_the_list_pages_oldest_first_by_keyset_cursor_and_refuses_what_it_cannot_serve(operator, api):
    approvals = [make_pending_approval(f"page-{n}") for n in range(5)]
    client = client_for(operator)
    seen, url = [], "/api/approvals?limit=2"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == [approval.pk for approval in approvals]
    back = client.get(client.get("/api/approvals?limit=2").json()["next"]).json()["previous"]
    assert [row["id"] for row in client.get(back).json()["results"]] == [approvals[0].pk, approvals[1].pk]

    for query, field in (("limit=201", "limit"), ("limit=0", "limit"), ("cursor=not-ours", "cursor")):
        refused = client.get(f"/api/approvals?{query}")
        assert refused.status_code == 400 and set(refused.json()["errors"]) == {field}, query

    # A method the route does not have is a 405 even for a client the route refuses (403).
    assert api.get("/api/approvals").status_code == 403
    wrong = api.delete(f"/api/approvals/{approvals[0].pk}")
    assert wrong.status_code == 405 and wrong["Allow"] == "GET, HEAD, OPTIONS"


def test_the_schema_documents_the_page_and_its_limits(operator):
    from drf_spectacular.settings import spectacular_settings

    schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/approvals"]["get"]
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/PaginatedApprovalOutputList"}
    limit = next(parameter for parameter in operation["parameters"] if parameter["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
