"""Invokes the unpacked Lambda package as Lambda does, with nothing but the package and the
standard library importable (run as ``python -I -S -B package_runner.py PACKAGE EVENTS OUT``).

EVENTS is a JSON list of events; OUT receives, for each, the response or the exception,
the modules that were imported from outside the package and the standard library, the
modules loaded once the first event was answered, and what AWS clients made afterwards
look like (boto3 and botocore are deferred at start-up).

``package_runner.py PACKAGE EVENTS OUT restore`` plays SnapStart instead (the process has
``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``): it imports the handler, runs the
before-snapshot hooks as Lambda does (in the reverse order of registration), then forks two
children, each a restored environment: with credentials of its own, it runs the
after-restore hooks (in order) and serves EVENTS. OUT receives what the "snapshot" held and
what each restored environment saw.
"""

import json
import os
import sys
import sysconfig
import time
import traceback
import uuid


class LambdaContext:
    function_name = "ops-console-dev"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ops-console-dev"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self):
        return 30_000


def main() -> None:
    package, events_path, out_path = sys.argv[1:4]
    os.chdir(package)
    sys.path.insert(0, package)
    from console.runtime.lambda_handler import lambda_handler

    results, after_first = [], None
    with open(events_path) as source:
        events = json.load(source)
    for event in events:
        if results and after_first is None:
            after_first = loaded_modules()
        context = LambdaContext()
        try:
            results.append({"response": lambda_handler(event, context), "request_id": context.aws_request_id})
        except Exception as exc:
            results.append({"error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()})
    aws = aws_after_events()
    allowed = [os.path.realpath(package)] + [
        os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")
    ]
    outside = sorted(
        name
        for name, module in list(sys.modules.items())
        if name not in {"__main__", "__mp_main__"}  # this script
        and getattr(module, "__file__", None)
        and not any(os.path.realpath(module.__file__).startswith(prefix) for prefix in allowed)
    )
    with open(out_path, "w") as out:
        json.dump(
            {
                "results": results,
                "imported_from_outside": outside,
                "loaded_after_first_event": after_first,
                "aws": aws,
            },
            out,
            default=str,
        )


def aws_after_events() -> dict:
    """A client built by the console's own code once the events are served, and what the
    modules that imported boto3 and botocore at start-up (as stand-ins) now see."""
    import zappa.utilities
    from aws_lambda_powertools.shared import user_agent

    from console.aws import clients as aws

    url = aws.client("s3").generate_presigned_url("get_object", Params={"Bucket": "media", "Key": "a.csv"})
    import boto3
    import botocore

    return {
        "presigned_url": url,
        "boto3_loaded_as": type(sys.modules["boto3"]).__name__,
        "botocore_loaded_as": type(sys.modules["botocore"]).__name__,
        "zappa_sees_the_real_session": zappa.utilities.boto3.Session is boto3.session.Session,
        "powertools_initializer_registered": user_agent._initializer_botocore_session in botocore._INITIALIZERS,
    }


def loaded_modules() -> list[str]:
    """Modules really loaded: not the handler's stand-ins for deferred ones."""
    return sorted(name for name, module in sys.modules.items() if type(module).__name__ != "DeferredModule")


def restore_main() -> None:
    package, events_path, out_path = sys.argv[1:4]
    os.chdir(package)
    sys.path.insert(0, package)
    import snapshot_restore_py
    from django.db import connections
    from zappa.handler import LambdaHandler

    from console.aws import clients as aws
    from console.runtime.lambda_handler import lambda_handler  # registers the hooks

    # As if the init code had set Django up, built a client and opened a connection: neither
    # the client nor the connection may survive.
    LambdaHandler()
    snapshot_client = aws.client("s3")
    connections["default"].ensure_connection()
    snapshot_backend = backend_identity()
    for function, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        function(*args, **kwargs)
    snapshot = {
        "hooks": [function.__qualname__ for function, _, _ in snapshot_restore_py.get_before_snapshot()],
        "stand_ins": [name for name, module in sys.modules.items() if type(module).__name__ == "DeferredModule"],
        "open_connections": [c.alias for c in connections.all(initialized_only=True) if c.connection is not None],
        "backend": snapshot_backend,
        "modules": len(sys.modules),
    }
    modules_at_snapshot = set(sys.modules)
    with open(events_path) as source:
        events = json.load(source)
    children = []
    for number in range(2):
        sys.stdout.flush()  # or the children would print it again
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            code = 1
            try:
                restored(number, events, lambda_handler, snapshot_client, modules_at_snapshot, f"{out_path}.{number}")
                code = 0
            finally:
                sys.stdout.flush()  # os._exit flushes nothing: the EMF lines would be lost
                sys.stderr.flush()
                os._exit(code)
        children.append(child)
    statuses = [os.waitpid(child, 0)[1] for child in children]
    environments = []
    for number, status in enumerate(statuses):
        with open(f"{out_path}.{number}") as child_out:
            environments.append({"exit_status": status, **json.load(child_out)})
    with open(out_path, "w") as out:
        json.dump({"snapshot": snapshot, "restored": environments}, out, default=str)


def restored(number, events, lambda_handler, snapshot_client, modules_at_snapshot, out_path) -> None:
    """One environment restored from the snapshot: new credentials, the after-restore hooks,
    then the events."""
    import random

    import snapshot_restore_py

    from console.aws import clients as aws

    os.environ["AWS_ACCESS_KEY_ID"] = f"RESTORED{number}"
    started = time.perf_counter()
    try:
        for function, args, kwargs in snapshot_restore_py.get_after_restore():
            function(*args, **kwargs)
        results = []
        for event in events:
            context = LambdaContext()
            try:
                results.append({"response": lambda_handler(event, context), "request_id": context.aws_request_id})
            except Exception as exc:
                results.append({"error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()})
        served_ms = (time.perf_counter() - started) * 1000
        client = aws.client("s3")
        out = {
            "results": results,
            "restore_to_last_response_ms": served_ms,
            "hooks": [function.__qualname__ for function, _, _ in snapshot_restore_py.get_after_restore()],
            "random": random.random(),
            "uuid": str(uuid.uuid4()),
            "backend": backend_identity(),
            "client_is_the_snapshots": client is snapshot_client,
            "client_access_key": client._request_signer._credentials.access_key,
            "loaded_after_restore": sorted(set(sys.modules) - modules_at_snapshot),
        }
    except Exception:
        out = {"error": traceback.format_exc()}
    with open(out_path, "w") as child_out:
        json.dump(out, child_out, default=str)


def backend_identity() -> str:
    """The database session serving this process: PostgreSQL's backend pid, or for SQLite
    whether a connection is open."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return f"pid {cursor.fetchone()[0]}"
    return "open" if connection.connection is not None else "closed"


if __name__ == "__main__":
    if sys.argv[4:] == ["restore"]:
        restore_main()
    else:
        main()
