"""Functions the local consumer's tests invoke in execution environments (importable by
the environments' own processes)."""

import os
import time


def pid(event, context):
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis(), "name": context.function_name}


def sleep(event, context):
    time.sleep(float(event["seconds"]))
    return {"slept": event["seconds"], "pid": os.getpid()}


def fail(event, context):
    raise ValueError(f"bad event {event.get('n')}")
