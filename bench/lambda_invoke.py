"""Run one Lambda process the way the runtime does, and time it (stdlib only: it runs as
``python -I -S -B lambda_invoke.py ...`` with nothing on sys.path but the package).

    lambda_invoke.py PACKAGE_DIR HANDLER EVENT_JSON [WARM_INVOCATIONS]
    lambda_invoke.py PACKAGE_DIR HANDLER EVENT_JSON 0 restore

Imports HANDLER ("module.function") from PACKAGE_DIR, invokes it with the event, and
writes one line ``RESULT {...}`` to stdout as soon as the first response is back (the
parent process times the cold start up to that line), then invokes it WARM_INVOCATIONS
times more and writes ``WARM {...}`` with their durations.

``restore`` plays SnapStart (run with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``): the
handler imported and the before-snapshot hooks run, then a forked child (the restored
environment) runs the after-restore hooks and invokes the handler; ``RESULT`` carries
``restored_ms``, from the fork to the response (what Lambda adds, loading the snapshot's
memory, is not in it), and ``snapshot_ms``, the hooks' set-up.
"""

import importlib
import json
import os
import sys
import time
import uuid


class LambdaContext:
    def __init__(self, function_name: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def restore(handler, event_text: str, function: str) -> None:
    import snapshot_restore_py

    began = time.perf_counter()
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        hook(*args, **kwargs)
    snapshot_ms = (time.perf_counter() - began) * 1000
    sys.stdout.flush()
    child = os.fork()
    if child:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
    restored = time.perf_counter()
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
    response = handler(json.loads(event_text), LambdaContext(function))
    result = {
        "status": response.get("statusCode"),
        "restored_ms": (time.perf_counter() - restored) * 1000,
        "snapshot_ms": snapshot_ms,
        "body": (response.get("body") or "")[:200],
    }
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


def main() -> None:
    package_dir, handler_path, event_path = sys.argv[1:4]
    warm_invocations = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    started, cpu_started = time.perf_counter(), time.process_time()
    # As Lambda does: the package is the working directory and the first path entry.
    os.chdir(package_dir)
    sys.path.insert(0, package_dir)
    with open(event_path) as source:
        event_text = source.read()
    module_name, _, function_name = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    imported, cpu_imported = time.perf_counter(), time.process_time()
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    if sys.argv[5:] == ["restore"]:
        restore(handler, event_text, function)
    response = handler(json.loads(event_text), LambdaContext(function))
    answered, cpu_answered = time.perf_counter(), time.process_time()
    result = {
        "status": response.get("statusCode"),
        "import_ms": (imported - started) * 1000,
        "first_ms": (answered - started) * 1000,
        "cpu_import_ms": (cpu_imported - cpu_started) * 1000,
        "cpu_first_invocation_ms": (cpu_answered - cpu_imported) * 1000,
        "body": (response.get("body") or "")[:200],
    }
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    durations = []
    for _ in range(warm_invocations):
        began = time.perf_counter()
        response = handler(json.loads(event_text), LambdaContext(function))
        durations.append((time.perf_counter() - began) * 1000)
        if response.get("statusCode") != result["status"]:
            raise SystemExit(f"warm invocation answered {response.get('statusCode')}")
    if warm_invocations:
        sys.stdout.write("WARM " + json.dumps({"warm_ms": durations}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
