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
"""

import argparse
import logging
import os
import signal
import sys
import threading
import time
import urllib.request

logger = logging.getLogger("localaws")


def enable_state_machine_execution(endpoint: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=b'{"stepfunctions": {"execute_state_machine": true}}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


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
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
