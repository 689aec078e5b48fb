"""Background jobs of imports (``orders.tasks`` registers them). They take ids and plain
values, call the services, and are safe to run twice (see ``orders.imports.services``: a
finished chunk is skipped, an unfinished one left nothing). The services queue them by
name, so only this module imports the other."""

from console.aws import s3
from console.runtime.celery import app
from orders.imports import services

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": 2, "retry_backoff_max": 120, "max_retries": 5}


@app.task(name=services.PLAN_JOB, **_RETRY)
def import_plan_job(import_id: str) -> str:
    return services.import_plan(import_id=import_id).status


@app.task(name=services.CHUNK_JOB, bind=True, max_retries=5)
def import_chunk_job(self, chunk_id: int, phase: str) -> str:
    try:
        return services.import_chunk_run(chunk_id=chunk_id, phase=phase).status
    except (s3.ObjectChanged, s3.ObjectMissing) as exc:
        services.import_chunk_failed(chunk_id=chunk_id, error=str(exc))
        return "FAILED"
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            services.import_chunk_failed(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
            return "FAILED"
        # A lost race for an order reference, a dropped connection: run the chunk again.
        raise self.retry(exc=exc, countdown=min(120, 2 ** (self.request.retries + 1))) from exc


@app.task(name=services.WORKFLOWS_JOB, **_RETRY)
def import_workflows_job(import_id: str) -> int:
    return services.import_workflows_advance(import_id=import_id)
