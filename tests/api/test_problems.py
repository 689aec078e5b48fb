"""What every route of the REST API shares: AWS errors, bodies nested too deep, methods a
route lacks, page sizes, and a schema that documents each of those answers."""

import json

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from django.contrib.auth.models import AnonymousUser
from knox.models import AuthToken
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from console.platform import roles
from tests.conftest import make_user


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def aws_error(code: str, http_status: int, message: str = "AWS says no", operation: str = "SendMessage"):
    """A ClientError as botocore raises it from AWS's answer."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "aws-req-1", "HTTPStatusCode": http_status},
        },
        operation,
    )


def answer_to(exc: Exception):
    """What the API answers when a view meets ``exc``."""

    class Raising(APIView):
        permission_classes = []

        def get(self, request):
            raise exc

    request = APIRequestFactory().get("/api/raising")
    request.user = AnonymousUser()
    return Raising.as_view()(request)


@pytest.mark.django_db  # the throttle counts every request in the database
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (aws_error("ThrottlingException", 400), 503, "ThrottlingException"),
        (aws_error("AWS.SimpleQueueService.RequestThrottled", 403), 503, "AWS.SimpleQueueService.RequestThrottled"),
        (aws_error("InternalFailure", 500), 502, "InternalFailure"),
        (aws_error("AccessDeniedException", 400), 502, "AccessDeniedException"),
        (aws_error("ResourceNotFoundException", 400), 502, "ResourceNotFoundException"),
        (aws_error("ValidationException", 400), 400, "ValidationException"),
        (
            aws_error("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
            409,
            "AWS.SimpleQueueService.PurgeQueueInProgress",
        ),
        (EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com"), 503, "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com"), 503, "ReadTimeoutError"),
        (NoCredentialsError(), 502, "NoCredentialsError"),
        (ParamValidationError(report="Invalid length for parameter Key"), 400, "ParamValidationError"),
    ],
)
def test_an_aws_error_reaching_a_view_is_a_problem_with_its_aws_code(exc, status, code):
    response = answer_to(exc)
    response.render()
    body = json.loads(response.content)
    assert response.status_code == status
    assert body["status"] == status and body["code"] == code and body["title"]
    if status == 503:
        assert response["Retry-After"] == "5"
    if isinstance(exc, ClientError):
        assert body["awsRequestId"] == "aws-req-1"
    # AWS's own message names accounts, roles and resources: it stays out of a 502.
    if isinstance(exc, ClientError):
        assert ("AWS says no" in body["detail"]) == (status in (400, 409))


@pytest.mark.django_db
def test_json_nested_too_deep_is_a_400_not_a_recursion_error(api):
    for depth in (100_000, 33):
        body = "[" * depth + "]" * depth
        response = api.post("/api/orders", body, content_type="application/json")
        problem = response.json()
        assert response.status_code == 400, depth
        assert problem["code"] == "parse_error" and "nested deeper than 32 levels" in problem["detail"]
    deep_but_allowed = {"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 1, "price": 1}]}
    assert api.post("/api/orders", deep_but_allowed, format="json").status_code == 201


@pytest.mark.django_db
def test_a_method_a_route_lacks_is_a_405_with_allow_once_authenticated_whatever_the_permissions(api):
    # An api-client has no ops permission: GET is refused, PATCH does not exist.
    assert api.get("/api/dlqs").status_code == 403
    response = api.patch("/api/dlqs", {}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert api.delete("/api/approvals").status_code == 405
    assert api.put("/api/orders", {}, format="json").status_code == 405
    # Anonymous callers learn nothing about the routes: authentication comes first.
    anonymous = APIClient().patch("/api/dlqs", {}, format="json")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/orders", "/api/approvals"])
@pytest.mark.parametrize(("limit", "status"), [("0", 400), ("1", 200), ("200", 200), ("201", 400), ("1e3", 400)])
def test_a_page_is_1_to_200_rows_and_anything_else_a_400_naming_limit(path, limit, status):
    admin = make_user("page-admin", roles.ADMIN)
    response = client_for(admin).get(path, {"limit": limit})
    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["errors"] == {"limit": ["A whole number from 1 to 200."]}


@pytest.fixture
def schema(db):
    user = make_user("schema-reader", roles.API_CLIENT, staff=False)
    return client_for(user).get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _problem(operation, code: str) -> bool:
    answer = operation["responses"].get(code)
    return answer is not None and answer["content"]["application/json"]["schema"] == PROBLEM_REF


def test_every_operation_documents_the_errors_it_can_answer_as_problems(schema):
    for path, method, operation in _operations(schema):
        where = f"{method.upper()} {path}"
        for code in ("401", "403", "406", "429", "502", "503"):
            assert _problem(operation, code), (where, code)
        if "{" in path:
            assert _problem(operation, "404"), where
        if "requestBody" in operation:
            assert _problem(operation, "400") and _problem(operation, "415"), where
        if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            assert _problem(operation, "400"), where
    problem = schema["components"]["schemas"]["Problem"]
    assert sorted(problem["required"]) == ["code", "status", "title", "type"]
    assert set(problem["properties"]) == {"type", "title", "status", "code", "detail", "errors", "awsRequestId"}


@pytest.mark.parametrize(
    ("path", "rows", "maximum"),
    [
        ("/api/orders", "Order", 200),
        ("/api/approvals", "ApprovalOutput", 200),
        ("/api/dlqs/{name}/messages", "DeadLetter", 500),
        ("/api/imports", "ImportOutput", None),
    ],
)
def test_the_lists_are_documented_as_the_pages_they_answer(schema, path, rows, maximum):
    operation = schema["paths"][path]["get"]
    page_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][page_ref.rsplit("/", 1)[-1]]
    assert page["required"] == ["next", "previous", "results"]
    assert page["properties"]["results"] == {"type": "array", "items": {"$ref": f"#/components/schemas/{rows}"}}
    assert page["properties"]["next"]["nullable"] is True
    if maximum is not None:  # /api/imports pages with the imports' own paginator (orders/imports/apis.py)
        (limit,) = [parameter for parameter in operation["parameters"] if parameter["name"] == "limit"]
        assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": maximum}


def test_the_problem_schema_is_shared_and_still_importable_from_orders():
    from console.api import openapi
    from orders import apis

    assert apis.PROBLEM is openapi.PROBLEM and apis.ProblemSerializer is openapi.ProblemSerializer
