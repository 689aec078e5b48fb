"""The local stack for benchmarks: a moto server process with infra/ deployed, a migrated
database and the consumer process (the stage's Lambda functions: their SQS event sources,
schedules and execution environments), torn down on exit. Nothing here is imported by the
application.

Used as ``with local_stack(database_url) as endpoint: ...`` before Django is imported by the
caller's benchmark code (it sets DJANGO_SETTINGS_MODULE and DATABASE_URL). ``deploy=False,
consumer=False`` gives a bare local AWS: benchmarks that make their own queues."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_database_url(given: str | None = None) -> str:
    """``given``, else $DATABASE_URL, else a new temporary SQLite file."""
    return given or os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='ops-bench-')}/bench.sqlite3"


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')


def start_consumer(env: dict[str, str], log_path: Path, *, skip_queues: tuple[str, ...] = ()) -> subprocess.Popen:
    """The consumer process (``manage.py consume_queues``), once it polls its queues. Its
    execution environments die with it."""
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "consume_queues", *[f"--skip-queue={name}" for name in skip_queues]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started_at = log_path.read_text().count("polling ")
    deadline = time.monotonic() + 60
    while log_path.read_text().count("polling ") < started_at + 2:
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the consumer did not start (see {log_path})")
        time.sleep(0.2)
    return process


@contextlib.contextmanager
def local_stack(
    database_url: str,
    *,
    log_dir: Path | None = None,
    deploy: bool = True,
    consumer: bool = True,
    skip_queues: tuple[str, ...] = (),
    **settings_env: str,
):
    from console.devtools.devstack import free_port

    log_dir = log_dir or ROOT / ".local" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.dev",
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
        "APPROVAL_EMAILS": "false",
        **settings_env,
    }
    os.environ.update(env)
    if database_url.startswith("postgres"):
        _ensure_postgres_database(database_url)
    elif database_url.startswith("sqlite:///"):
        for path in Path(database_url.removeprefix("sqlite:///")).parent.glob(Path(database_url).name + "*"):
            path.unlink()

    processes: list[subprocess.Popen] = []
    moto_log = open(log_dir / "moto.log", "w")
    (log_dir / "consumer.log").write_text("")
    try:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "console.devtools.localaws", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=moto_log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 30
        while "ready" not in (log_dir / "moto.log").read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the local AWS did not start")
            time.sleep(0.1)

        import django

        django.setup()
        from django.core.management import call_command

        if deploy:
            from infra.deploy import deploy as deploy_infra

            deploy_infra(endpoint_url=endpoint)
        call_command("migrate", interactive=False, verbosity=0)
        if database_url.startswith("postgres"):
            # A database kept from an earlier run: empty it, then put the roles back.
            from django.apps import apps

            from console.platform.roles import sync_roles

            call_command("flush", interactive=False, verbosity=0)
            sync_roles(apps)
        if consumer:
            processes.append(start_consumer(env, log_dir / "consumer.log", skip_queues=skip_queues))
        yield endpoint
    finally:
        from console.devtools.devstack import stop_process

        for process in reversed(processes):
            stop_process(process)
        moto_log.close()


def start_orders_to_approval(count: int, *, total_of=lambda index: 20, timeout: float = 600) -> list:
    """Create ``count`` orders, start their executions and wait until each waits for its
    approval. Returns the pending approvals, oldest first."""
    from console.models import AuditEntry
    from orders.services import order_create
    from workflows.executions import workflow_start
    from workflows.models import Approval

    for index in range(count):
        order = order_create(
            user_id=f"bench-{index}",
            items=[{"product_id": "bench", "name": "Bench item", "quantity": 1, "price": total_of(index)}],
            source=AuditEntry.Source.SYSTEM,
            start_workflow=False,
        )
        workflow_start(order_id=order.pk)
    deadline = time.monotonic() + timeout
    while (pending := Approval.objects.filter(status=Approval.Status.PENDING).count()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {pending} of {count} approvals arrived")
        time.sleep(0.5)
    return list(Approval.objects.filter(status=Approval.Status.PENDING).order_by("requested_at", "id"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
