"""The cost page end to end on the local stack: API requests through the web process's
API Gateway stand-in, orders through the real workflow and the consumer playing Lambda,
a file in the bucket; the local AWS and the consumer publish AWS's own metrics, and the
page prices them."""

import re

import pytest
import werkzeug.test
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.urls import reverse
from rest_framework.test import APIClient

from console.aws import clients as aws
from console.aws import resources
from console.devtools import api_gateway
from console.runtime.stage import zappa_stage_settings
from ops import cloudwatch, costs
from ops.cloudwatch import MetricQuery
from tests.conftest import csrf_post, wait_for
from tests.workflows.test_journeys import WIDGETS, pending_approval, wait_until_finished

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def month_total(namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> float:
    report_month = costs.month_bounds(costs.timezone.now())
    query = MetricQuery("m", namespace, name, dimensions, "Sum", 86400)
    return sum(
        value for _, value in cloudwatch.metric_series(queries=[query], start=report_month[0], end=report_month[1])["m"]
    )


def line(report, area: str, starts: str):
    found = next(area_cost for area_cost in report.areas if area_cost.area == area)
    return next(item for item in found.lines if item.resource.startswith(starts))


def test_the_cost_page_prices_what_the_stack_did(stack, api_token, operator, admin_user, client):
    web = werkzeug.test.Client(api_gateway.with_metrics(WSGIHandler()))
    headers = {"Authorization": f"Bearer {api_token}"}
    order_ids = []
    for _ in range(2):
        response = web.post("/api/orders", json={"userId": "cost-test", "items": WIDGETS}, headers=headers)
        assert response.status_code == 201, response.text
        order_ids.append(response.json["orderId"])
    assert web.get("/api/orders/not-an-order", headers=headers).status_code == 404  # counted as a 4XX
    client.force_login(operator)
    for order_id in order_ids:
        approval = pending_approval(order_id)
        inbox = reverse("admin:workflows_approval_changelist")
        assert (
            csrf_post(client, inbox, reverse("admin:workflows_approval_approve", args=[approval.pk])).status_code == 302
        )
    for order_id in order_ids:
        assert wait_until_finished(order_id) == "SUCCEEDED"
    aws.client("s3").put_object(Bucket=resources.files_bucket(), Key="exports/cost-test.csv", Body=b"x" * 4096)

    api = costs.stage_functions()[costs.API]
    machine = resources.resource_name("order-processing")

    def priced():
        report = costs.cost_report()
        done = (
            line(report, "api", "API Gateway").so_far
            >= costs.apigateway_cost(requests=3, prices=costs.Prices.for_region("us-east-1"))
            and line(report, "worker", "Lambda").so_far > 0
            and line(report, "workflows", f"Step Functions {machine}").so_far > 0
            and report.notes
            and line(report, "storage", "S3").so_far > 0
        )
        return done and report

    report = wait_for(priced, timeout=60, interval=2, what="the stack's metrics to be published and priced")

    # Each figure is the metrics AWS would publish, at the functions' configured size.
    prices = costs.Prices.for_region("us-east-1")
    requests = month_total("AWS/ApiGateway", "Count", (("ApiName", api),))
    assert requests >= 3
    assert line(report, "api", "API Gateway").so_far == pytest.approx(
        costs.apigateway_cost(requests=requests, prices=prices), rel=0.05
    )
    config = zappa_stage_settings("dev-worker")
    assert f"at {config['memory_size']:,} MB, {config['architecture']}" in line(report, "worker", "Lambda").usage
    # Transitions counted in the finished executions' histories (the two above at least).
    workflow = line(report, "workflows", f"Step Functions {machine}").usage
    per_execution, read = re.search(r"× ([\d.,]+) transitions \(mean of (\d+) recent histories", workflow).groups()
    assert float(per_execution) > 5 and int(read) >= 2
    steps_queue = resources.resource_name("steps")
    assert line(report, "queues", f"SQS {steps_queue}").so_far > 0
    assert month_total("AWS/States", "ExecutionsStarted", (("StateMachineArn", resources.state_machine_arn()),)) >= 2
    # The consumer's pollers long-poll idle queues: some note says so.
    kinds = {note.kind for note in report.notes}
    assert "empty-receives" in kinds
    assert ("arm64" in kinds) == (config["architecture"] == "x86_64")

    # The page, for admins only; and the same figures over REST.
    cache.clear()
    client.force_login(operator)
    assert client.get(reverse("admin:ops_stagecost_changelist")).status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("admin:ops_stagecost_changelist"), {"refresh": "1"})
    assert page.status_code == 200
    text = page.content.decode()
    for label in ("API", "Worker", "Workflows", "Queues", "Storage"):
        assert f'<th scope="rowgroup" colspan="2">{label}</th>' in text
    assert "polls empty" in text and f"API Gateway {api}" in text
    rest = APIClient()
    rest.force_authenticate(admin_user)
    answer = rest.get("/api/costs").json()
    assert [area["area"] for area in answer["areas"]] == ["api", "worker", "workflows", "queues", "storage"]
    assert answer["soFar"] > 0 and answer["projected"] >= answer["soFar"]
    assert {note["kind"] for note in answer["notes"]} == kinds
