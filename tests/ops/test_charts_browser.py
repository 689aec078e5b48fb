"""The charts in a real browser (Debian's chromium driven by Playwright): the home page
draws the points the console published, with the same points in its data table, and an
alarm's page draws its metric with the threshold line. Chart.js's own instance data is
read from the page (``Chart.getChart(canvas).data``)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from console.aws.resources import resource_name
from ops import cloudwatch, metrics
from ops.models import Alarm, AlarmEvent
from tests.browser import JOURNEY_MARKS, log_in

pytestmark = JOURNEY_MARKS

CHART_DATA = """(selector) => {
  const canvas = document.querySelector(selector + " canvas");
  const chart = window.Chart.getChart(canvas);
  return chart.data.datasets.map((d) => ({label: d.label, dashed: d.borderDash.length > 0,
                                           points: d.data.map((p) => [p.x, p.y])}));
}"""


def five_minute_marks(count: int, *, minutes_ago: int) -> list[datetime]:
    """``count`` 5-minute period starts, the first ``minutes_ago`` back (each its own point)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=minutes_ago + now.minute % 5)
    return [first + timedelta(minutes=5 * n) for n in range(count)]


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def table_points(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} details.chart-table tbody tr",
        "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))",
    )


@pytest.fixture
def superuser_page(browser, live_server, superuser, artifacts_dir, request):
    page = log_in(browser, live_server, superuser, next_path="/", height=1400)
    yield page
    page.screenshot(path=str(artifacts_dir / f"{request.node.name}.png"), full_page=True)


def test_the_dashboard_draws_the_published_points_with_the_same_points_in_its_table(local_aws, superuser_page):
    marks = five_minute_marks(3, minutes_ago=60)
    put = [(at, value) for at, value in zip(marks, [4.0, 9.0, 2.0], strict=True)]
    cloudwatch.put_metrics(
        [
            {
                "MetricName": metrics.APPROVALS_WAITING,
                "Dimensions": [{"Name": k, "Value": v} for k, v in metrics.stage_dimensions()],
                "Timestamp": at,
                "Value": value,
            }
            for at, value in put
        ]
    )
    cache.clear()  # charts are cached for a minute
    page = superuser_page
    page.reload()

    figure = "#chart-approvals-waiting"
    page.wait_for_function(
        "s => window.Chart && window.Chart.getChart(document.querySelector(s + ' canvas'))", arg=figure
    )
    drawn = page.evaluate(CHART_DATA, figure)
    assert [d["label"] for d in drawn] == ["Approvals waiting"]
    points = drawn[0]["points"]
    # The stack's minute schedule may add the current period's gauge; what was put is all there.
    assert [[ms(at), value] for at, value in put] == [p for p in points if p[0] <= ms(marks[-1])][-3:]
    # The table fallback holds exactly the points the chart drew.
    rows = table_points(page, figure)
    expected = [[datetime.fromtimestamp(x / 1000, UTC).strftime("%Y-%m-%d %H:%M"), f"{y:g}"] for x, y in points]
    assert rows == expected
    assert page.locator(f"{figure} canvas").get_attribute("role") == "img"
    assert "Approvals waiting" in page.locator(f"{figure} canvas").get_attribute("aria-label")
    # Every chart of the dashboard was drawn, none failed.
    assert page.locator("#dashboard-charts figure.chart").count() == 6
    assert page.locator("#dashboard-charts .chart-error").count() == 0
    assert page.evaluate(
        "() => Array.from(document.querySelectorAll('#dashboard-charts canvas')).every(c => window.Chart.getChart(c))"
    )


def test_the_alarm_page_draws_its_metric_with_the_threshold_line_and_its_states(local_aws, superuser_page, live_server):
    queue = resource_name("charts-dlq")
    alarm = Alarm.objects.create(
        name=resource_name("charts-dlq-depth"),
        state="ALARM",
        state_changed_at=datetime.now(UTC) - timedelta(minutes=20),
        namespace=settings.OPS_METRIC_NAMESPACE,
        metric_name="DeadLetterDepth",
        dimensions={"QueueName": queue},
        statistic="Maximum",
        period=60,
        threshold=5,
        comparison="GreaterThanThreshold",
    )
    AlarmEvent.objects.create(
        alarm_name=alarm.name,
        state="ALARM",
        previous_state="OK",
        occurred_at=alarm.state_changed_at,
        source="event",
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    put = [(now - timedelta(minutes=m), v) for m, v in [(40, 1.0), (30, 3.0), (20, 8.0)]]
    cloudwatch.put_dead_letter_depths({queue: 0})  # the current minute: a dead-letter depth like refresh's
    cloudwatch.put_metrics(
        [
            {
                "MetricName": "DeadLetterDepth",
                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                "Timestamp": at,
                "Value": value,
            }
            for at, value in put
        ]
    )
    page = superuser_page
    page.goto(live_server.url + reverse("admin:ops_alarm_change", args=[alarm.pk]))

    figure = "#chart-alarm-metric"
    page.wait_for_function(
        "s => window.Chart && window.Chart.getChart(document.querySelector(s + ' canvas'))", arg=figure
    )
    metric, threshold = page.evaluate(CHART_DATA, figure)
    assert metric["label"] == "DeadLetterDepth" and not metric["dashed"]
    assert [[ms(at), value] for at, value in put] == metric["points"][:3]
    assert threshold["dashed"] and threshold["label"] == "Threshold (> 5)"
    assert {y for _, y in threshold["points"]} == {5}
    # The threshold spans the chart's whole window, the metric's points inside it.
    assert threshold["points"][0][0] <= metric["points"][0][0] and threshold["points"][-1][0] >= metric["points"][-1][0]

    states = page.evaluate(CHART_DATA, "#chart-alarm-state")[0]["points"]
    assert [y for _, y in states] == [0, 2, 2]  # OK before the change, then in alarm until now
    assert table_points(page, "#chart-alarm-state")[1][1] == "In alarm"
