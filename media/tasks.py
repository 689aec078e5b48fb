"""Background jobs of imports. They take ids and plain values, and are safe to run twice
(see media.services: a finished chunk is skipped, an unfinished one left nothing)."""

from console.aws import s3
from console.runtime.celery import app

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": 2, "retry_backoff_max": 120, "max_retries": 5}


@app.task(name="media.import_plan", **_RETRY)
def import_plan_job(import_id: str) -> str:
    from media.services import import_plan

    return import_plan(import_id=import_id).status


@app.task(name="media.import_chunk", bind=True, max_retries=5)
def import_chunk_job(self, chunk_id: int, phase: str) -> str:
    from media.services import import_chunk_failed, import_chunk_run

    try:
        return import_chunk_run(chunk_id=chunk_id, phase=phase).status
    except (s3.ObjectChanged, s3.ObjectMissing) as exc:
        import_chunk_failed(chunk_id=chunk_id, error=str(exc))
        return "FAILED"
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            import_chunk_failed(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
            return "FAILED"
        # A lost race for an order reference, a dropped connection: run the chunk again.
        raise self.retry(exc=exc, countdown=min(120, 2 ** (self.request.retries + 1))) from exc


@app.task(name="media.import_workflows", **_RETRY)
def import_workflows_job(import_id: str) -> int:
    from media.services import import_workflows_advance

    return import_workflows_advance(import_id=import_id)
