"""A client built from the OpenAPI schema alone drives the order API end to end, and every
answer matches what the schema says (bodies of successes and of errors)."""

import re

import pytest
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

pytestmark = pytest.mark.django_db


class SchemaClient:
    """Calls operations by ``operationId`` and checks each answer against the schema."""

    def __init__(self, api, schema: dict):
        self.api = api
        self.schema = schema
        self.operations = {
            operation["operationId"]: (method, path, operation)
            for path, item in schema["paths"].items()
            for method, operation in item.items()
        }
        document = Resource.from_contents(schema, default_specification=DRAFT4)
        self.registry = Registry().with_resource("urn:schema", document)

    def call(self, operation_id: str, *, path: dict | None = None, query: dict | None = None, body=None, headers=None):
        method, template, operation = self.operations[operation_id]
        url = re.sub(r"\{(\w+)\}", lambda m: str((path or {})[m.group(1)]), template)
        declared_query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(query or {}) <= declared_query, f"{operation_id} does not declare {set(query) - declared_query}"
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
        response = getattr(self.api, method)(url, data=body if method != "get" else query, format="json", **extra)
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, f"{operation_id} answered {response.status_code}, not in the schema"
        if response.status_code != 204:
            schema = declared["content"]["application/json"]["schema"]
            validator = OAS30Validator(
                {"$ref": "urn:schema#" + schema["$ref"][1:]} if "$ref" in schema else schema, registry=self.registry
            )
            validator.validate(response.json())
        return response


@pytest.fixture
def schema_client(api):
    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return SchemaClient(api, schema)


def test_a_client_generated_from_the_schema_runs_the_order_lifecycle(schema_client, submitted_orders):
    created = schema_client.call(
        "orders_create",
        body={
            "userId": "gen-client",
            "items": [{"productId": "p1", "name": "Widget", "quantity": 1, "price": 9.5}],
        },
        headers={"Idempotency-Key": "gen-1"},
    )
    assert created.status_code == 201
    order_id = created.json()["orderId"]

    listed = schema_client.call("orders_list", query={"userId": "gen-client", "limit": 10, "ordering": "-total"})
    assert [o["orderId"] for o in listed.json()["results"]] == [order_id]
    fetched = schema_client.call("orders_retrieve", path={"order_id": order_id})
    assert fetched.json()["version"] == 1

    conflict = schema_client.call(
        "orders_status_update", path={"order_id": order_id}, body={"status": "DELIVERED", "expectedVersion": 1}
    )
    assert conflict.status_code == 409  # CREATED cannot be delivered: a Problem body, as declared
    invalid = schema_client.call("orders_status_update", path={"order_id": order_id}, body={"status": "LOST"})
    assert invalid.status_code == 400
    reused = schema_client.call(
        "orders_create",
        body={"userId": "other", "items": [{"productId": "p", "name": "n", "quantity": 1, "price": 1}]},
        headers={"Idempotency-Key": "gen-1"},
    )
    assert reused.status_code == 422

    assert schema_client.call("orders_cancel", path={"order_id": order_id}).status_code == 204
    missing = schema_client.call("orders_retrieve", path={"order_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404
