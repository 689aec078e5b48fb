"""AWS's own metrics, played by the local stack (console/devtools/local_metrics.py): summed
per minute and put as AWS names them; the local AWS's SQS and S3 counts; the API Gateway
stand-in of make run's web process."""

from datetime import UTC, datetime, timedelta

import pytest

from console.aws import clients as aws
from console.devtools import api_gateway, local_metrics, localaws
from tests.conftest import wait_for


def capturing_buffer() -> tuple[local_metrics.MetricBuffer, list[tuple[str, dict]]]:
    put: list[tuple[str, dict]] = []
    buffer = local_metrics.MetricBuffer(lambda namespace, data: put.extend((namespace, datum) for datum in data))
    return buffer, put


def test_samples_of_a_minute_are_put_once_as_statistics():
    buffer, put = capturing_buffer()
    local_metrics.lambda_invocation(buffer, function_name="fn", duration_ms=120.0, error=False)
    local_metrics.lambda_invocation(buffer, function_name="fn", duration_ms=30.0, error=True)

    assert buffer.flush() == 3
    by_name = {datum["MetricName"]: datum for namespace, datum in put if namespace == "AWS/Lambda"}
    assert by_name["Invocations"]["StatisticValues"] == {"SampleCount": 2, "Sum": 2, "Minimum": 1, "Maximum": 1}
    assert by_name["Duration"]["StatisticValues"] == {"SampleCount": 2, "Sum": 150, "Minimum": 30, "Maximum": 120}
    assert by_name["Duration"]["Unit"] == "Milliseconds"
    assert by_name["Errors"]["StatisticValues"]["Sum"] == 1
    assert by_name["Invocations"]["Dimensions"] == [{"Name": "FunctionName", "Value": "fn"}]
    assert buffer.flush() == 0  # put once


def test_the_api_gateway_stand_in_counts_each_request_and_its_class_of_error():
    buffer, put = capturing_buffer()

    def app(wsgi, start_response):  # a WSGI app (its first argument, the request's "environ")
        start_response("404 Not Found" if wsgi["PATH_INFO"] == "/missing" else "200 OK", [])
        return [b""]

    gateway = api_gateway.ApiGatewayMetrics(app, api_name="ops-console-dev", stage="dev", buffer=buffer)
    for path in ("/", "/missing"):
        gateway({"PATH_INFO": path}, lambda status, headers, exc_info=None: None)
    buffer.flush()

    sums = {
        (datum["MetricName"], len(datum["Dimensions"])): datum["StatisticValues"]["Sum"]
        for namespace, datum in put
        if namespace == "AWS/ApiGateway"
    }
    assert sums[("Count", 1)] == 2 and sums[("Count", 2)] == 2  # by ApiName, and by ApiName and Stage
    assert sums[("4XXError", 1)] == 1 and sums[("5XXError", 1)] == 0
    lambda_sums = {d["MetricName"]: d["StatisticValues"]["Sum"] for n, d in put if n == "AWS/Lambda"}
    assert lambda_sums["Invocations"] == 2 and lambda_sums["Errors"] == 0


@pytest.mark.parametrize(
    ("method", "path", "host", "expected"),
    [
        ("GET", "/files-b/incoming/orders/a.csv", "127.0.0.1:5000", ("files-b", "GetRequests")),
        ("GET", "/files-b", "127.0.0.1:5000", ("files-b", "ListRequests")),
        ("PUT", "/files-b/media/x.png", "127.0.0.1:5000", ("files-b", "PutRequests")),
        ("POST", "/files-b", "127.0.0.1:5000", ("files-b", "PostRequests")),
        ("HEAD", "/k.csv", "files-b.s3.amazonaws.com", ("files-b", "HeadRequests")),
        ("POST", "/", "127.0.0.1:5000", None),  # SQS, SNS, ...: not a bucket's
    ],
)
def test_s3_requests_are_told_apart_as_s3s_request_metrics_do(method, path, host, expected):
    request = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": host}

    assert localaws.s3_request_metric(request, {"files-b"}) == expected


def month_sum(namespace: str, name: str, dimensions: list[dict]) -> float:
    now = datetime.now(UTC)
    answer = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                    "Period": 86400,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=now - timedelta(days=1),
        EndTime=now + timedelta(days=1),
    )
    return sum(answer["MetricDataResults"][0]["Values"])


def test_the_local_aws_counts_sqs_requests_and_s3_requests_as_aws_does(local_aws, files_bucket):
    sqs = aws.client("sqs")
    name = "cost-counted-queue"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(3)])
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    )
    sqs.receive_message(QueueUrl=url)
    s3 = aws.client("s3")
    s3.put_object(Bucket=files_bucket, Key="exports/counted.csv", Body=b"x" * 2048)
    s3.get_object(Bucket=files_bucket, Key="exports/counted.csv")
    queue = [{"Name": "QueueName", "Value": name}]
    entire = [{"Name": "BucketName", "Value": files_bucket}, {"Name": "FilterId", "Value": "EntireBucket"}]

    wait_for(
        lambda: (
            month_sum("AWS/SQS", "NumberOfEmptyReceives", queue) >= 1
            and month_sum("AWS/S3", "GetRequests", entire) >= 1
        ),
        timeout=20,
        what="the local AWS's metrics",
    )

    assert month_sum("AWS/SQS", "NumberOfMessagesSent", queue) == 3
    assert month_sum("AWS/SQS", "NumberOfMessagesReceived", queue) == 3
    assert month_sum("AWS/SQS", "NumberOfMessagesDeleted", queue) == 3
    assert month_sum("AWS/SQS", "NumberOfEmptyReceives", queue) == 1
    assert month_sum("AWS/S3", "PutRequests", entire) >= 1
    assert month_sum("AWS/S3", "AllRequests", entire) >= 2


def test_the_local_aws_answers_get_metric_data_as_moto_does_reading_each_metrics_own_points(monkeypatch):
    from datetime import UTC, datetime, timedelta

    from moto.cloudwatch.models import CloudWatchBackend

    from console.devtools import localaws

    start = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    backend = CloudWatchBackend("us-east-1", "123456789012")
    for minute in range(120):
        at = start + timedelta(minutes=minute, seconds=10)
        backend.put_metric_data(
            "AWS/SQS",
            [
                {
                    "MetricName": "NumberOfMessagesSent",
                    "Value": minute,
                    "Timestamp": at,
                    "Dimensions": [{"Name": "QueueName", "Value": q}],
                }
                for q in ("steps", "jobs")
            ],
        )
        backend.put_metric_data("AWS/Lambda", [{"MetricName": "Invocations", "Value": 2, "Timestamp": at}])
    queries = [
        {
            "Id": "steps",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "NumberOfMessagesSent",
                    "Dimensions": [{"Name": "QueueName", "Value": "steps"}],
                },
                "Period": 600,
                "Stat": "Sum",
            },
        },
        {
            "Id": "calls",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations"},
                "Period": 3600,
                "Stat": "Sum",
            },
        },
        {
            "Id": "none",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/S3", "MetricName": "BucketSizeBytes"},
                "Period": 60,
                "Stat": "Average",
            },
            "ReturnData": True,
        },
    ]
    end = start + timedelta(hours=3)
    moto_answer = CloudWatchBackend.get_metric_data(backend, queries, start, end)

    # Patched here as the local AWS patches its own process; put back after the test.
    monkeypatch.setattr(CloudWatchBackend, "get_metric_data", CloudWatchBackend.get_metric_data)
    localaws.metric_data_read_by_metric()
    ours = CloudWatchBackend.get_metric_data(backend, queries, start, end)

    assert CloudWatchBackend.get_metric_data.by_metric
    assert ours == moto_answer
    by_id = {result["id"]: result for result in ours}
    assert sum(by_id["steps"]["values"]) == sum(range(120)) and len(by_id["steps"]["values"]) == 12
    assert by_id["calls"]["values"] == [120.0, 120.0] and by_id["none"]["values"] == []
