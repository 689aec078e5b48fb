"""The local AWS: a moto server process with Step Functions execution turned on, and
SQS event source mappings left to the local consumer (which plays Lambda's poller).

    python -m console.devtools.localaws [--host 127.0.0.1] [--port 5000]

Prints its endpoint once ready; point the AWS CLI or boto3 at it with AWS_ENDPOINT_URL.
Stops on SIGINT/SIGTERM. Requests are not logged one per line.
"""

import argparse
import logging
import os
import signal
import sys
import threading
import urllib.request


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
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
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    endpoint = f"http://{args.host}:{args.port}"
    enable_state_machine_execution(endpoint)
    print(f"Local AWS (moto) ready at {endpoint}  (export AWS_ENDPOINT_URL={endpoint})", flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
