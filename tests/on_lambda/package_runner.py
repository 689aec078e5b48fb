"""Invokes the unpacked Lambda package as Lambda does, with nothing but the package and the
standard library importable (run as ``python -I -S -B package_runner.py PACKAGE EVENTS OUT``).

EVENTS is a JSON list of events; OUT receives, for each, the response or the exception,
the modules that were imported from outside the package and the standard library, the
modules loaded once the first event was answered, and what AWS clients made afterwards
look like (boto3 and botocore are deferred at start-up).
"""

import json
import os
import sys
import sysconfig
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


if __name__ == "__main__":
    main()
