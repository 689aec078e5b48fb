"""Imported at start-up by every Python process of the test run (this folder is put on
PYTHONPATH by tests/on_lambda/conftest.py): records the AWS calls our code makes, for the
IAM policy test. Does nothing unless OPS_AWS_CALL_LOG is set, and patches botocore only
once a process imports it."""

import os

if os.environ.get("OPS_AWS_CALL_LOG"):
    import aws_call_recorder

    aws_call_recorder.install_when_imported()
