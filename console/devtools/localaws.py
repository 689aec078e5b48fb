"""The local AWS: a moto server process with Step Functions execution turned on, and
SQS event source mappings left to the local consumer (which plays Lambda's poller).

    python -m console.devtools.localaws [--host 127.0.0.1] [--port 5000] [--sqs-metrics-seconds 60]

Prints its endpoint once ready; point the AWS CLI or boto3 at it with AWS_ENDPOINT_URL.
Stops on SIGINT/SIGTERM. Requests are not logged one per line.

AWS publishes every queue's AWS/SQS metrics by itself; moto stores PutMetricData but
publishes none. So this process plays that part: every ``--sqs-metrics-seconds``
(``LOCAL_SQS_METRICS_SECONDS``, 60 like AWS's one-minute SQS metrics; 0 turns it off) it
samples each queue and puts ApproximateNumberOfMessagesVisible, ...NotVisible, ...Delayed
and ApproximateAgeOfOldestMessage with the QueueName dimension, as AWS does.

SES gives no sent mail back through its API; this process lists what it accepted at
``GET /moto-api/ses/sent-messages`` (``serve_sent_mail``), for the tests.

The rest of what AWS publishes by itself, it publishes too, every ``--metrics-seconds``
(``LOCAL_AWS_METRICS_SECONDS``, 60; 0 turns it off), under AWS's namespaces, names and
dimensions (``console.devtools.local_metrics``):

* AWS/SQS NumberOfMessagesSent, NumberOfMessagesReceived, NumberOfMessagesDeleted and
  NumberOfEmptyReceives by QueueName, counted as moto's SQS serves the calls;
* AWS/S3 BucketSizeBytes (StorageType StandardStorage) and NumberOfObjects (AllStorageTypes)
  by BucketName, AWS's daily storage metrics, sampled; and the request metrics a bucket's
  metrics configuration ``EntireBucket`` gives (AllRequests, GetRequests, PutRequests,
  ListRequests, HeadRequests, PostRequests, DeleteRequests by BucketName and FilterId),
  counted as the server answers them;
* AWS/States ExecutionsStarted, ExecutionsSucceeded, ExecutionsFailed, ExecutionsTimedOut,
  ExecutionsAborted and ExecutionTime by StateMachineArn, from the executions the server
  runs. (AWS publishes no per-machine state transitions: ``ops.costs`` counts them from
  execution histories, here as there.)

AWS/Lambda comes from the consumer, which plays Lambda; AWS/ApiGateway and the API
function's AWS/Lambda from the console's ``web`` process, which plays API Gateway.
"""

import argparse
import logging
import os
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

from console.devtools import local_metrics

logger = logging.getLogger("localaws")


def enable_state_machine_execution(endpoint: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=b'{"stepfunctions": {"execute_state_machine": true}}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


def metric_data_read_by_metric() -> None:
    """Answer GetMetricData from each queried metric's own data points.

    moto's ``get_metric_data`` scans every data point it holds once per period of every
    query: a month of daily periods over a few hundred queries, or a chart's minutes over
    hours, against the points a long-running stack piles up (this process puts AWS/SQS,
    AWS/S3, AWS/States and the consumer AWS/Lambda every few seconds in the tests) took
    minutes, where CloudWatch answers at once. Same answer, same code: each MetricStat
    query is handed to moto's own ``get_metric_data`` with only the points its filter
    would take (its metric's; with dimensions, those dimensions'). Requests with math or
    Insights expressions go to it as they are.
    """
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.get_metric_data
    if getattr(original, "by_metric", False):
        return

    class _Points:
        def __init__(self, points):
            self.points = points

        def get_all_metrics(self):
            return self.points

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
        if not queries or not all("MetricStat" in query for query in queries):
            return original(self, queries, start_time, end_time, scan_by)
        # The points moto's own filter would pick: by namespace and name for a query without
        # dimensions; by name and exactly these dimensions for one with them (moto's filter
        # then looks no further).
        by_metric: dict[tuple, list] = {}
        by_dimensions: dict[tuple, list] = {}
        for point in self.get_all_metrics():
            by_metric.setdefault((point.namespace, point.name), []).append(point)
            dimensions = tuple(sorted((d.name, d.value) for d in point.dimensions))
            by_dimensions.setdefault((point.name, dimensions), []).append(point)
        results = []
        for query in queries:
            metric = query["MetricStat"]["Metric"]
            wanted = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
            if wanted:
                points = by_dimensions.get((metric["MetricName"], wanted), [])
            else:
                points = by_metric.get((metric["Namespace"], metric["MetricName"]), [])
            results += original(_Points(points), [query], start_time, end_time, scan_by)
        return results

    get_metric_data.by_metric = True
    CloudWatchBackend.get_metric_data = get_metric_data


def leave_sqs_event_sources_to_the_local_consumer() -> None:
    """Keep moto from delivering SQS messages to event source mappings itself.

    moto's SQS hands each new message to every enabled Lambda mapping of its queue
    (``Queue.add_message``), invoking the function in Docker, which is not here: the message
    is received and put back, its receive count spent, and after maxReceiveCount it lands in
    the DLQ. Locally the consumer (``console.devtools.local_consumer``) is Lambda's poller:
    it registers the stage's mappings, as Zappa does on deploy, and polls while they are
    enabled. So mappings are stored (listed, updated, paused) but never attached to their
    queue. Patched in this process only: the moto server's.
    """
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import sqs_backends

    create = LambdaBackend.create_event_source_mapping
    if getattr(create, "_leaves_sqs_to_the_local_consumer", False):
        return

    def create_event_source_mapping(self, spec):
        mapping = create(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.lambda_event_source_mappings.get(mapping.function_arn) is mapping:
                del queue.lambda_event_source_mappings[mapping.function_arn]
        return mapping

    create_event_source_mapping._leaves_sqs_to_the_local_consumer = True
    LambdaBackend.create_event_source_mapping = create_event_source_mapping


# Where the local AWS lists the mail its SES accepted (see serve_sent_mail).
SENT_MAIL_PATH = "/moto-api/ses/sent-messages"


def serve_sent_mail() -> None:
    """``GET /moto-api/ses/sent-messages``: the raw messages SES's SendEmail (v2) and
    SendRawEmail accepted, in every account and region, oldest first, as a JSON list of
    ``{"id", "account", "region", "source", "destinations", "raw_data"}``.

    SES has no API that gives sent mail back, and moto's listing of all its objects
    (``/moto-api/data.json``) fails as soon as one object's attribute cannot be read (a
    Lambda function's Docker client, a deleted bucket's lifecycle). So the tests read
    what the stage mailed here, from another process, as they read everything else the
    local AWS holds. Served by this process only: the moto server's.
    """
    import json

    from moto.moto_api._internal import urls
    from moto.ses.models import RawMessage, ses_backends

    def sent_messages(request, full_url, headers):
        found = [
            {
                "id": message.id,
                "account": account,
                "region": region,
                "source": message.source,
                "destinations": message.destinations,
                "raw_data": message.raw_data,
            }
            for account, regions in list(ses_backends.items())
            for region, backend in list(regions.items())
            for message in list(backend.sent_messages)
            if isinstance(message, RawMessage)
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(found)

    urls.url_paths["{0}" + SENT_MAIL_PATH + "$"] = sent_messages


SQS = "AWS/SQS"
S3 = "AWS/S3"
STATES = "AWS/States"


def count_sqs_requests(buffer: local_metrics.MetricBuffer) -> None:
    """Count, as SQS does, the messages each queue is sent, hands out and deletes, and the
    receives that found nothing. Patched in this process only: the moto server's.
    (SendMessageBatch and DeleteMessageBatch go through the single-message methods.)"""
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.send_message, "_counted", False):
        return
    send, receive, delete = SQSBackend.send_message, SQSBackend.receive_message, SQSBackend.delete_message

    def send_message(self, queue_name, *args, **kwargs):
        message = send(self, queue_name, *args, **kwargs)
        buffer.count(SQS, "NumberOfMessagesSent", (("QueueName", queue_name),))
        return message

    def receive_message(self, queue_name, *args, **kwargs):
        messages = receive(self, queue_name, *args, **kwargs)
        dimensions = (("QueueName", queue_name),)
        if messages:
            buffer.count(SQS, "NumberOfMessagesReceived", dimensions, len(messages))
        else:
            buffer.count(SQS, "NumberOfEmptyReceives", dimensions)
        return messages

    def delete_message(self, queue_name, *args, **kwargs):
        delete(self, queue_name, *args, **kwargs)
        buffer.count(SQS, "NumberOfMessagesDeleted", (("QueueName", queue_name),))

    for patched in (send_message, receive_message, delete_message):
        patched._counted = True
    SQSBackend.send_message = send_message
    SQSBackend.receive_message = receive_message
    SQSBackend.delete_message = delete_message


# S3's request metrics by HTTP method (a GET without a key lists the bucket).
S3_REQUEST_METRICS = {
    "PUT": "PutRequests",
    "POST": "PostRequests",
    "HEAD": "HeadRequests",
    "DELETE": "DeleteRequests",
}


def s3_request_metric(request: dict[str, Any], buckets: set[str]) -> tuple[str, str] | None:
    """(bucket, metric) of an S3 request (a WSGI environ) to one of ``buckets``, None for anything else.
    Path-style addresses (boto3's for an IP endpoint) and virtual-host ones."""
    path = urllib.parse.unquote(request.get("PATH_INFO", ""))
    host = request.get("HTTP_HOST", "").split(":", 1)[0]
    first, _, key = path.lstrip("/").partition("/")
    if first in buckets:
        bucket = first
    else:
        bucket = next((name for name in buckets if host.startswith(f"{name}.")), "")
        key = path.lstrip("/")
        if not bucket:
            return None
    method = request.get("REQUEST_METHOD", "GET")
    if method == "GET":
        return bucket, "GetRequests" if key else "ListRequests"
    return bucket, S3_REQUEST_METRICS.get(method, "PutRequests")


def _bucket_names() -> set[str]:
    from moto.s3.models import s3_backends

    return {name for name in s3_backends.bucket_accounts}


def count_s3_requests(buffer: local_metrics.MetricBuffer) -> None:
    """Count every S3 request the server answers in the bucket's request metrics (filter
    ``EntireBucket``), as S3 does for a bucket with that metrics configuration."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    call = DomainDispatcherApplication.__call__
    if getattr(call, "_counted", False):
        return

    def counted_call(self, environ, start_response):
        try:
            found = s3_request_metric(environ, _bucket_names())
        except Exception:  # a metric is never worth a failed request
            found = None
        if found:
            dimensions = (("BucketName", found[0]), ("FilterId", "EntireBucket"))
            buffer.count(S3, "AllRequests", dimensions)
            buffer.count(S3, found[1], dimensions)
        return call(self, environ, start_response)

    counted_call._counted = True
    DomainDispatcherApplication.__call__ = counted_call


def s3_storage_sample(buffer: local_metrics.MetricBuffer) -> int:
    """Each bucket's size and object count, as S3's daily storage metrics; returns how
    many buckets were sampled."""
    from moto.s3.models import s3_backends

    sampled = 0
    for bucket_name, (partition, account) in list(s3_backends.bucket_accounts.items()):
        bucket = s3_backends[account][partition].buckets.get(bucket_name)
        if bucket is None:
            continue
        keys = list(bucket.keys.values())
        size = sum(key.size for key in keys if hasattr(key, "size"))
        buffer.add(S3, "BucketSizeBytes", (("BucketName", bucket_name), ("StorageType", "StandardStorage")), size)
        buffer.add(S3, "NumberOfObjects", (("BucketName", bucket_name), ("StorageType", "AllStorageTypes")), len(keys))
        sampled += 1
    return sampled


class ExecutionMetrics:
    """AWS/States execution metrics from the executions the server runs, read through its
    own Step Functions API: each execution counts once when seen started and once when
    seen stopped."""

    ENDINGS = {
        "SUCCEEDED": "ExecutionsSucceeded",
        "FAILED": "ExecutionsFailed",
        "TIMED_OUT": "ExecutionsTimedOut",
        "ABORTED": "ExecutionsAborted",
    }

    def __init__(self, endpoint: str, buffer: local_metrics.MetricBuffer):
        self.endpoint = endpoint
        self.buffer = buffer
        self.started: set[str] = set()
        self.stopped: set[str] = set()

    def sample(self) -> int:
        import boto3

        sfn = boto3.client("stepfunctions", endpoint_url=self.endpoint, region_name=_region())
        seen = 0
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                dimensions = (("StateMachineArn", machine["stateMachineArn"]),)
                executions = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
                for execution in (item for listing in executions for item in listing["executions"]):
                    arn = execution["executionArn"]
                    if arn not in self.started:
                        self.started.add(arn)
                        self.buffer.count(STATES, "ExecutionsStarted", dimensions)
                        seen += 1
                    ending = self.ENDINGS.get(execution["status"])
                    if ending and arn not in self.stopped:
                        self.stopped.add(arn)
                        self.buffer.count(STATES, ending, dimensions)
                        if execution.get("stopDate"):
                            took = (execution["stopDate"] - execution["startDate"]).total_seconds() * 1000
                            self.buffer.add(STATES, "ExecutionTime", dimensions, took, unit="Milliseconds")
        return seen


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def aws_metrics_loop(endpoint: str, seconds: float, stop: threading.Event) -> None:
    """Count requests as they are served; sample storage and executions; put it all every
    ``seconds``."""
    import boto3

    buffer = local_metrics.MetricBuffer(
        local_metrics.cloudwatch_put(lambda: boto3.client("cloudwatch", endpoint_url=endpoint, region_name=_region()))
    )
    count_sqs_requests(buffer)
    count_s3_requests(buffer)
    executions = ExecutionMetrics(endpoint, buffer)
    while not stop.wait(seconds):
        for sample in (lambda: s3_storage_sample(buffer), executions.sample):
            try:
                sample()
            except Exception:  # a resource deleted mid-sample: the next sample is whole again
                logger.warning("sampling the local AWS's metrics failed", exc_info=True)
        buffer.flush()


def sqs_metrics_sample(endpoint: str) -> int:
    """Put the AWS/SQS metrics of every queue moto holds, as AWS would; returns how many
    queues were sampled. Reads moto's own queue objects (this process runs the server):
    the SQS API has no oldest message age to give."""
    import boto3
    from moto.sqs.models import sqs_backends

    sampled = 0
    now_ms = time.time() * 1000
    for _account, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            data = []
            for name, queue in list(backend.queues.items()):
                messages = list(queue._messages)
                oldest = min((m.sent_timestamp for m in messages if m.sent_timestamp), default=None)
                values = {
                    "ApproximateNumberOfMessagesVisible": queue.approximate_number_of_messages,
                    "ApproximateNumberOfMessagesNotVisible": queue.approximate_number_of_messages_not_visible,
                    "ApproximateNumberOfMessagesDelayed": queue.approximate_number_of_messages_delayed,
                    "ApproximateAgeOfOldestMessage": max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0,
                }
                for metric, value in values.items():
                    data.append(
                        {
                            "MetricName": metric,
                            "Dimensions": [{"Name": "QueueName", "Value": name}],
                            "Value": float(value),
                            "Unit": "Seconds" if metric == "ApproximateAgeOfOldestMessage" else "Count",
                        }
                    )
                sampled += 1
            client = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region)
            for start in range(0, len(data), 1000):
                client.put_metric_data(Namespace="AWS/SQS", MetricData=data[start : start + 1000])
    return sampled


def sqs_metrics_loop(endpoint: str, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        try:
            sqs_metrics_sample(endpoint)
        except Exception:  # a queue deleted mid-sample: the next sample is whole again
            logger.warning("sampling the AWS/SQS metrics failed", exc_info=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument(
        "--sqs-metrics-seconds", type=float, default=float(os.environ.get("LOCAL_SQS_METRICS_SECONDS", "60"))
    )
    parser.add_argument(
        "--metrics-seconds",
        type=float,
        default=float(os.environ.get("LOCAL_AWS_METRICS_SECONDS", str(local_metrics.DEFAULT_SECONDS))),
    )
    args = parser.parse_args(argv)

    # The state machine interpreter calls back into this server (SQS tasks) on MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Fail states (rejected or failed orders) are normal outcomes, not errors to print.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    from moto.server import ThreadedMotoServer

    leave_sqs_event_sources_to_the_local_consumer()
    metric_data_read_by_metric()
    serve_sent_mail()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    endpoint = f"http://{args.host}:{args.port}"
    enable_state_machine_execution(endpoint)
    print(f"Local AWS (moto) ready at {endpoint}  (export AWS_ENDPOINT_URL={endpoint})", flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.sqs_metrics_seconds > 0:
        threading.Thread(
            target=sqs_metrics_loop, args=(endpoint, args.sqs_metrics_seconds, stop), name="sqs-metrics", daemon=True
        ).start()
    if args.metrics_seconds > 0:
        threading.Thread(
            target=aws_metrics_loop, args=(endpoint, args.metrics_seconds, stop), name="aws-metrics", daemon=True
        ).start()
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
