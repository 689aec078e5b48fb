"""``make run`` itself: the devstack process (python -m console.devtools.devstack) starts the
local AWS, sets up a database, runs the consumer and the console, serves the login page and
a live poll, and stops every process it started on Ctrl-C.

Its own ports and a SQLite file of its own (DATABASE_URL), so the checkout's db.sqlite3 and
any `make run` on the usual ports are left alone."""

import os
import re
import signal
import subprocess
import sys
import time

import requests

from console.devtools import devstack
from tests.conftest import BASE_DIR, wait_for


def test_make_runs_stack_serves_the_console_and_stops_whole(tmp_path):
    port, aws_port = devstack.free_port(), devstack.free_port()
    log_path = tmp_path / "devstack.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "AWS_", "PYTEST_")) and key not in ("DATABASE_URL", "OPS_AWS_CALL_LOG")
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'devstack.sqlite3'}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "console.devtools.devstack", "--port", str(port), "--aws-port", str(aws_port)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "Console ready" in log_path.read_text() or process.poll() is not None,
            timeout=180,
            interval=0.5,
            what=f"the console to start (see {log_path})",
        )
        output = log_path.read_text()
        assert process.poll() is None, output[-3000:]
        login = requests.get(f"http://127.0.0.1:{port}/login/", timeout=10)
        assert login.status_code == 200 and 'name="username"' in login.text
        # The vendored front-end files are served (htmx for the live pages).
        assert re.search(r'src="[^"]*htmx\.min\.js"', login.text)
        # Every process of the deployed topology was started: the local AWS, the consumer
        # playing the functions (with their mappings registered in the local AWS), the web.
        for name in ("aws", "setup", "consumer", "web"):
            assert re.search(rf"^\s*{name} \| ", output, re.M), f"no output from {name}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, log_path.read_text()[-3000:]
    # Nothing it started outlives it: its ports are free again.
    time.sleep(1)
    for freed in (port, aws_port):
        assert _free(freed), f"port {freed} still answers"


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
