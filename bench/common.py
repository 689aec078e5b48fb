"""Shared by the benchmarks: setup, timing, printing, and recording the figures in
docs/benchmarks.md."""

import os
import re
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"


def setup() -> None:
    """Django on the benchmark database (``bench.settings``), with its orders loaded."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://.../ops_bench_orders")
    from orders.models import Order

    if not Order.objects.exists():
        raise SystemExit("No orders: load them first with python -m bench.load_orders")


@dataclass
class Measure:
    median_ms: float
    p95_ms: float
    queries: int
    status: int
    #: This process's CPU time per request (median): the Python side, which other load on
    #: the machine does not inflate the way it inflates wall time.
    cpu_ms: float = 0.0


def measure(client, url: str, *, runs: int, warmup: int = 3, **extra) -> Measure:
    """Median and 95th percentile of ``runs`` requests (after ``warmup``), served in this
    process (server time: middleware, view, database; no network), and the number of
    queries one request makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(url, **extra)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    # Read now: the next request's request_started signal clears the query log.
    query_count = len(queries.captured_queries)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url, **extra)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return Measure(
        statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], query_count, 200, statistics.median(cpu)
    )


def machine_note() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.2f} on {os.cpu_count()} cores"


# --- docs/benchmarks.md ----------------------------------------------------------------------


def record(name: str, title: str, table: str | Sequence[Sequence[object]], *, note: str = "") -> bool:
    """Replace this benchmark's section of docs/benchmarks.md, between ``<!-- bench:NAME -->``
    and ``<!-- /bench:NAME -->``, with today's date, the command that ran and ``table``:
    markdown, or rows whose first is the header. A section not there yet is added at the
    end under ``title``.

    Only a benchmark run as its own command writes (its caller is ``__main__``), and not
    with ``BENCH_RECORD=0``: a test or another script calling a benchmark's ``main`` leaves
    the docs alone. Returns whether it wrote."""
    caller = sys._getframe(1).f_globals.get("__name__")
    if caller != "__main__" or os.environ.get("BENCH_RECORD", "1") == "0":
        return False
    body = table if isinstance(table, str) else markdown_table(table)
    load = os.getloadavg()[0]
    lines = [
        f"Measured {date.today().isoformat()} with `{command_line()}` "
        f"({os.cpu_count()} cores, load average {load:.1f} at the end){'. ' + note if note else ''}.",
        "",
        body.strip(),
    ]
    replace_section(DOCS, name, title, "\n".join(lines))
    print(f"recorded in {DOCS} ({name})")
    return True


def markdown_table(rows: Sequence[Sequence[object]]) -> str:
    header, *body = [[str(cell).replace("|", "\\|").replace("\n", " ") for cell in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def replace_section(path: Path, name: str, title: str, content: str) -> None:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{start}\n{content}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{section}\n"
    path.write_text(text)


def command_line() -> str:
    """This process's command as one could type it again, passwords in URLs hidden."""
    executable, *arguments = getattr(sys, "orig_argv", sys.argv)
    # Not resolved: .venv/bin/python is a link to the Python that made the virtualenv.
    executable = ".venv/bin/python" if Path(executable).absolute().is_relative_to(ROOT / ".venv") else "python"
    arguments = [argument for argument in arguments if argument not in ("-u", "-B")]
    if arguments and arguments[0].startswith(str(ROOT)):
        arguments[0] = str(Path(arguments[0]).relative_to(ROOT))
    return re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", shlex.join([executable, *arguments]))
