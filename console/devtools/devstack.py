"""The whole console on one machine: ``make run`` (python -m console.devtools.devstack).

Starts the local AWS (moto server), deploys infra/template.yaml to it, migrates a fresh
SQLite database, seeds demo users and orders, then runs what AWS runs: the stage's Lambda
functions (``consumer``: the API and worker functions' SQS event sources, schedules and
execution environments, from zappa_settings.json), the console (``web``: API Gateway in
front of the API function) on http://127.0.0.1:8000, and the WebSocket API's gateway (``ws``:
console/devtools/websocket_gateway.py) on ws://127.0.0.1:8001. Every line of output is prefixed with
the process it came from. Ctrl-C stops them all.

``--celery-worker`` runs the jobs queue with a Celery worker process instead of the
worker function, as a team running workers on ECS or EC2 would (docs/deploying.md, "A Celery worker instead").

The local AWS keeps its state in memory, so each run starts both it and the database
empty (``--keep-data`` keeps the database).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from console.devtools import websocket_gateway

# The repository: console/devtools/devstack.py is two folders below it.
BASE_DIR = Path(__file__).resolve().parents[2]
COLOURS = {"aws": 36, "setup": 37, "worker": 35, "consumer": 33, "web": 32, "ws": 34}
JOBS_QUEUE_SUFFIX = "jobs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def python() -> str:
    return sys.executable


def moto_command(port: int) -> list[str]:
    return [python(), "-m", "console.devtools.localaws", "--port", str(port)]


def worker_command(concurrency: int = 2, queue: str = JOBS_QUEUE_SUFFIX) -> list[str]:
    """A Celery worker of the jobs queue (the ``--celery-worker`` option; on ECS or EC2 the
    same command runs the deployed stage's jobs instead of the worker function)."""
    return [
        python(),
        "-m",
        "celery",
        "-A",
        "console.runtime.celery",
        "worker",
        "-Q",
        queue,
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        # SQS has no broadcast: these features would only poll for nothing.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]


def consumer_command(*, skip_queues: list[str] = ()) -> list[str]:
    return [python(), "manage.py", "consume_queues", *[f"--skip-queue={name}" for name in skip_queues]]


class Child:
    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        tag = (
            f"\033[{COLOURS.get(self.name, 37)}m{self.name:>8} |\033[0m "
            if sys.stdout.isatty()
            else f"{self.name:>8} | "
        )
        for line in self.process.stdout:
            sys.stdout.write(tag + line)
            sys.stdout.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate ``process`` and wait for it; kill it if it does not end within ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_step(name: str, command: list[str], env: dict[str, str]) -> None:
    child = Child(name, command, env)
    child.process.wait()
    child.thread.join()
    if child.process.returncode:
        raise SystemExit(f"{' '.join(command[1:])} failed with exit code {child.process.returncode}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the console locally with its local AWS.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "5000")))
    parser.add_argument(
        "--websocket-port",
        type=int,
        default=int(os.environ.get("WEBSOCKET_PORT", "8001")),
        help="the WebSocket API's local gateway (its @connections on the next port)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the local database of the last run")
    parser.add_argument(
        "--celery-worker",
        action="store_true",
        default=os.environ.get("CELERY_WORKER", "") not in ("", "0"),
        help="run the jobs queue with a Celery worker process instead of the worker function",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    if not args.keep_data and "DATABASE_URL" not in os.environ:
        # The settings' default database (db.sqlite3), so manage.py in another shell sees it.
        for path in BASE_DIR.glob("db.sqlite3*"):
            path.unlink()
    endpoint = f"http://127.0.0.1:{args.aws_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.dev",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PYTHONUNBUFFERED": "1",
        # Approval emails link back to this console.
        "CONSOLE_BASE_URL": os.environ.get("CONSOLE_BASE_URL", f"http://127.0.0.1:{args.port}"),
    }

    for port in (args.aws_port, args.port, args.websocket_port, args.websocket_port + 1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"Port {port} is already in use: stop what runs there, or pick another port.")

    children: list[Child] = []
    stopping = threading.Event()

    def stop_all(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        children.append(Child("aws", moto_command(args.aws_port), env))
        wait_for_port(args.aws_port, process=children[0].process)
        manage = [python(), "manage.py"]
        run_step("setup", manage + ["deploy_infra", "--api-url", f"http://127.0.0.1:{args.port}/api"], env)
        run_step("setup", manage + ["migrate", "--no-input", "-v", "0"], env)
        run_step("setup", manage + ["seed_demo"], env)
        # Dead letters and an alarm for the support pages.
        run_step("setup", manage + ["seed_ops_demo"], env)
        skip = []
        if args.celery_worker:
            children.append(Child("worker", worker_command(), env))
            skip.append(f"{env.get('RESOURCE_PREFIX', 'ops-console')}-{env.get('STAGE', 'dev')}-{JOBS_QUEUE_SUFFIX}")
        children.append(Child("consumer", consumer_command(skip_queues=skip), env))
        # The gateway is given the API the deploy made, found with the local AWS's credentials.
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ[key] = env[key]
        children.append(
            Child(
                "ws",
                websocket_gateway.gateway_command(
                    port=args.websocket_port,
                    management_port=args.websocket_port + 1,
                    api_id=websocket_gateway.websocket_api_id(
                        endpoint_url=endpoint,
                        name=f"{env.get('RESOURCE_PREFIX', 'ops-console')}-{env.get('STAGE', 'dev')}-websocket",
                        region=env["AWS_DEFAULT_REGION"],
                    ),
                    stage=env.get("STAGE", "dev"),
                ),
                env,
            )
        )
        children.append(Child("web", manage + ["runserver", f"127.0.0.1:{args.port}"], env))
        wait_for_port(args.port, process=children[-1].process, timeout=60)
        print(
            f"\nConsole ready in {time.monotonic() - started:.1f}s: http://127.0.0.1:{args.port}/ "
            f"(log in with a user above)\nREST API: http://127.0.0.1:{args.port}/api/orders "
            f"(token: python manage.py issue_token NAME)\n"
            f"Order status changes: ws://127.0.0.1:{args.websocket_port}/?token=TOKEN\n"
            f"Local AWS: export AWS_ENDPOINT_URL={endpoint} "
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping.is_set():
            for child in children:
                if child.process.poll() is not None:
                    print(f"{child.name} exited with {child.process.returncode}; stopping.", flush=True)
                    stopping.set()
            stopping.wait(0.5)
    finally:
        # In reverse order, each gone before the next stops: the local AWS goes last, so
        # nothing is left polling a server that is no longer there.
        for child in reversed(children):
            child.stop()
            child.wait(timeout=10)


if __name__ == "__main__":
    main()
