"""On the local stack: an order CSV dropped under incoming/orders/ is reported by the files
bucket to the files-events queue, whose consumer runs the media app's handler, which hands
it to the import; the real Celery worker processes run the import's chunks in parallel
and close it once; an importing process killed halfway resumes without duplicates."""

import pytest

from console.aws import clients as aws
from console.aws import resources
from console.models import AuditEntry
from orders.imports.models import Import, ImportChunk, ImportedOrder
from orders.imports.services import csv_import_object, import_run_inline
from orders.models import Order
from tests.conftest import wait_for
from tests.orders.imports.conftest import HEADER
from workflows.models import Execution

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def finished(import_id, timeout: float = 90) -> Import:
    return wait_for(
        lambda: (run := Import.objects.get(pk=import_id)).is_final and run,
        timeout=timeout,
        interval=0.3,
        what=f"import {import_id} to finish",
    )


def test_an_order_csv_dropped_in_incoming_orders_is_imported_by_the_workers(stack):
    body = HEADER + b"S3-1,cust,p1,Widget,2,10\nS3-1,cust,p2,Gadget,1,5\nS3-2,cust,p1,Widget,x,10\n"
    aws.client("s3").put_object(Bucket=resources.files_bucket(), Key="incoming/orders/drop.csv", Body=body)

    import_run = wait_for(lambda: Import.objects.filter(key="incoming/orders/drop.csv").first(), timeout=60)
    import_run = finished(import_run.pk)
    assert import_run.status == Import.Status.PARTIAL
    assert (import_run.rows_ingested, import_run.rows_rejected, import_run.orders_created) == (2, 1, 1)
    assert ImportedOrder.objects.get(reference="S3-1").order.items.count() == 2


def test_a_large_file_fans_out_to_chunk_jobs_and_is_closed_once(stack, put_object):
    lines = [f"FAN-{n // 4},c{n // 4},p{n % 4},Thing,1,1.25" for n in range(800)]
    info = put_object(HEADER + "\n".join(lines).encode() + b"\n")
    import_run = csv_import_object(info=info, mode="history", chunk_bytes=4096)  # queued after commit

    import_run = finished(import_run.pk)
    assert import_run.status == Import.Status.SUCCEEDED
    assert import_run.chunks_total >= 5 and import_run.chunks_done == import_run.chunks_total
    assert set(ImportChunk.objects.filter(import_run=import_run).values_list("status", flat=True)) == {"DONE"}
    assert Order.objects.filter(import_references__import_run=import_run).count() == import_run.orders_created == 200
    assert AuditEntry.objects.filter(object_id=str(import_run.pk), action="import.finish").count() == 1


def test_imported_orders_start_the_order_workflow(stack, put_object):
    info = put_object(HEADER + b"WF-1,cust,p1,Widget,1,10\nWF-2,cust,p1,Widget,1,10\n")
    import_run = finished(csv_import_object(info=info, mode="workflow").pk)
    assert import_run.status == Import.Status.SUCCEEDED
    order_ids = set(ImportedOrder.objects.values_list("order_id", flat=True))
    started = wait_for(
        lambda: (
            (found := set(Execution.objects.exclude(arn="").values_list("order_id", flat=True))) >= order_ids and found
        ),
        timeout=90,
        what="the workflows of the imported orders to start",
    )
    assert started >= order_ids
    import_run.refresh_from_db()
    assert import_run.workflows_started == 2


def test_an_import_whose_process_is_killed_halfway_resumes_without_duplicates(local_aws, put_object, artifacts_dir):
    """A real crash: the importing process gets SIGKILL between (or inside) chunks."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import BASE_DIR, _process_env, database_url

    lines = [f"KILL-{n // 2},c,p{n % 2},Thing,1,1" for n in range(2400)]
    # Not under incoming/orders/: the S3 event must not start an import of its own.
    info = put_object(HEADER + "\n".join(lines).encode() + b"\n", key="tests/kill.csv")
    env = _process_env(
        DJANGO_SETTINGS_MODULE="console.settings.dev", DATABASE_URL=database_url(), AWS_ENDPOINT_URL=local_aws.endpoint
    )
    log = open(artifacts_dir / "import-killed.log", "w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_csv", info.key, "--inline", "--mode", "history", "--chunk-bytes", "2048"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import_run = wait_for(lambda: Import.objects.filter(key=info.key).first(), timeout=60)
    wait_for(lambda: Import.objects.get(pk=import_run.pk).chunks_done >= 3, timeout=60, interval=0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    log.close()
    time.sleep(0.5)

    import_run.refresh_from_db()
    assert import_run.status == Import.Status.RUNNING
    assert 3 <= import_run.chunks_done < import_run.chunks_total
    imported = Order.objects.filter(import_references__import_run=import_run)
    assert imported.count() == ImportedOrder.objects.count() == import_run.orders_created < 1200

    resumed = import_run_inline(import_id=import_run.pk)
    assert resumed.status == Import.Status.SUCCEEDED
    assert imported.count() == ImportedOrder.objects.count() == resumed.orders_created == 1200
    assert resumed.rows_ingested == resumed.rows_total == 2400
