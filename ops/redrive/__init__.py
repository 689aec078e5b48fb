"""Redrive: archived dead letters sent back to a queue.

* ``jobs``: the operator's side: the dry run, starting a job (its messages claimed),
  cancel, resume, and taking over a job whose runner died. Each change is atomic and
  audited; the job itself runs in the background (``ops.redrive_run``, queued by name).
* ``runner``: the engine that job runs: batches of ten, in parallel, within a rate limit.
* ``move_tasks``: AWS's own redrive (StartMessageMoveTask) for the messages still in SQS.
"""
