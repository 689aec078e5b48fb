"""Reading an order CSV once, as a stream, to split it into chunks that can run in parallel.

A chunk boundary must fall between two records (not inside a quoted field that holds a
line break) and between two orders (an order's rows stay in one chunk). The scan works
on bytes: a line break ends a record when the number of ``"`` before it is even, which is
how CSV quoting nests. Counting is done by ``bytes.split``/``count`` over whole blocks, so
the scan runs at memory speed; only the few records around each boundary are parsed.

The scan also settles the file's encoding (UTF-8, with or without BOM; anything that is
not valid UTF-8 is read as Latin-1, with a warning) and reads the header.
"""

import codecs
import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from orders.imports.format import MAX_HEADER_BYTES, REFERENCE, FileRejected, Header, header_parse

UTF8 = "utf-8"
# Longer than this without a record end, the file is not CSV we can read in bounded memory.
MAX_RECORD_BYTES = 32 * 1024 * 1024
LATIN1 = "latin-1"
BOM = codecs.BOM_UTF8


@dataclass
class ChunkPlan:
    byte_start: int
    byte_end: int
    first_line: int
    lines: int = 0
    needs_python_reader: bool = False


@dataclass
class FilePlan:
    header: Header
    encoding: str
    data_start: int
    size: int
    chunks: list[ChunkPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_record(raw: bytes, encoding: str) -> list[str]:
    """The cells of one record (the bytes of exactly one CSV record)."""
    try:
        return next(csv.reader(io.StringIO(raw.decode(encoding, errors="replace"), newline="")), [])
    except csv.Error:
        return []


def _record_end(data: bytes, start: int) -> int:
    """Index just past the line break that ends the record starting at ``start``, or -1."""
    quotes = 0
    position = start
    while True:
        newline = data.find(b"\n", position)
        if newline < 0:
            return -1
        quotes += data.count(b'"', position, newline)
        if quotes % 2 == 0:
            return newline + 1
        position = newline + 1


def _record_end_after(data: bytes, start: int, target: int) -> int:
    """Index just past the first record-ending line break at or after ``target``, or -1.
    ``start`` (<= target) is a record boundary."""
    quotes = data.count(b'"', start, target)
    position = target
    while True:
        newline = data.find(b"\n", position)
        if newline < 0:
            return -1
        quotes += data.count(b'"', position, newline)
        if quotes % 2 == 0:
            return newline + 1
        position = newline + 1


def _last_record_end(data: bytes) -> int:
    """Index just past the last line break of ``data`` that ends a record (0 if none).
    ``data`` starts at a record boundary."""
    parts = data.split(b'"')
    # Parts with an even index are outside quotes; the last such part with a line break.
    last_outside = len(parts) - 1 if (len(parts) - 1) % 2 == 0 else len(parts) - 2
    tail = 0  # bytes after the part being looked at
    for index in range(len(parts) - 1, -1, -1):
        if index <= last_outside and index % 2 == 0:
            cut = parts[index].rfind(b"\n")
            if cut >= 0:
                return len(data) - tail - (len(parts[index]) - cut - 1)
        tail += len(parts[index]) + (1 if index > 0 else 0)
    return 0


# A quote with neither a delimiter nor another quote on either side: inside an unquoted
# field (``5" screen``, ``=F("x")``), which is not valid CSV.
_STRAY_QUOTE = re.compile(rb'[^,\r\n"]"[^,\r\n"]')


def _needs_python_reader(data: bytes) -> bool:
    """Whether ``data`` (starting at a record boundary) has a quoted field holding a line
    break, or a quote inside an unquoted field."""
    if b'"' not in data:
        return False
    return b"\n" in b"".join(data.split(b'"')[1::2]) or _STRAY_QUOTE.search(data) is not None


class _Decoder:
    """Follows the file's bytes to tell whether it is UTF-8; falls back to Latin-1."""

    def __init__(self):
        self.encoding = UTF8
        self._decoder = codecs.getincrementaldecoder(UTF8)()
        self.bad_line: int | None = None

    def feed(self, data: bytes, line: int, final: bool = False) -> None:
        if self.encoding != UTF8:
            return
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            self.encoding = LATIN1
            self.bad_line = line + data.count(b"\n", 0, exc.start)


def _read_header(blocks: Iterator[bytes]) -> tuple[bytes, bytes]:
    """The header record (BOM included) and the bytes read past it."""
    data = b""
    for block in blocks:
        data += block
        end = _record_end(data, 0)
        if end >= 0:
            return data[:end], data[end:]
        if len(data) > MAX_HEADER_BYTES:
            break
    if not data.strip():
        raise FileRejected("The file is empty.")
    if len(data) > MAX_HEADER_BYTES:
        raise FileRejected(
            f"The first line is longer than {MAX_HEADER_BYTES // 1024} KiB without a line break: "
            "this is not an order CSV header."
        )
    return data, b""


def plan_file(blocks: Iterable[bytes], *, size: int, chunk_bytes: int) -> FilePlan:
    """Scan the whole object once and return its header, encoding and chunks.

    Raises FileRejected for an empty file, a binary file, or a header without the format's
    columns. Memory stays within a block plus the longest record.
    """
    # Equal chunks no larger than asked: a file of 4.2 chunks' worth becomes five chunks of
    # 0.84 each, not four full ones and a small one that keeps one worker busy at the end.
    if size > chunk_bytes:
        chunk_bytes = math.ceil(size / math.ceil(size / chunk_bytes))
    blocks = iter(blocks)
    header_raw, rest = _read_header(blocks)
    if b"\x00" in header_raw or b"\x00" in rest[:8192]:
        raise FileRejected("The file holds binary data (NUL bytes): it is not a CSV text file.")
    decoder = _Decoder()
    decoder.feed(header_raw, 1)
    header_text = header_raw[len(BOM) :] if header_raw.startswith(BOM) else header_raw
    if not header_text.strip():
        if not rest.strip() and not any(block.strip() for block in blocks):
            raise FileRejected("The file is empty.")
        raise FileRejected("The first line is blank: an order CSV starts with its header line.")
    header = header_parse([cell.strip(" \t") for cell in parse_record(header_text, UTF8)])
    data_start = len(header_raw)
    header_lines = header_raw.count(b"\n") or 1
    plan = FilePlan(header=header, encoding=UTF8, data_start=data_start, size=size)
    if header.ignored:
        plan.warnings.append(
            "Columns not part of the order format were ignored: " + ", ".join(repr(c[:40]) for c in header.ignored)
        )

    reference_index = header.positions[REFERENCE]
    chunks = plan.chunks
    current = ChunkPlan(byte_start=data_start, byte_end=data_start, first_line=header_lines + 1)
    buffer = rest
    buffer_offset = data_start  # absolute offset of buffer[0], always a record boundary
    buffer_line = header_lines + 1  # the physical line buffer[0] starts on
    # Once a chunk is long enough it ends before the first record of another order: the
    # reference of its last order, while the scan looks for that change.
    closing_reference: str | None = None

    def reference_of(record: bytes) -> str | None:
        cells = parse_record(record, decoder.encoding)
        if not cells:
            return None  # a blank line belongs to no order
        return cells[reference_index].strip(" \t") if len(cells) > reference_index else ""

    def account(records: bytes) -> None:
        current.lines += records.count(b"\n")
        if not current.needs_python_reader and _needs_python_reader(records):
            current.needs_python_reader = True

    def consume(complete: bytes) -> None:
        """Assign complete records (the start of the buffer) to chunks."""
        nonlocal current, buffer, buffer_offset, buffer_line, closing_reference
        position = 0
        while position < len(complete):
            if closing_reference is None:
                target = current.byte_start + chunk_bytes - buffer_offset
                if target >= len(complete):
                    break
                boundary = _record_end_after(complete, position, max(target, position))
                if boundary < 0:
                    break
                closing_reference = reference_of(complete[_last_record_start(complete[:boundary]) : boundary]) or ""
                account(complete[position:boundary])
                position = boundary
                continue
            found = None
            cursor = position
            while cursor < len(complete):
                end = _record_end(complete, cursor)
                reference = reference_of(complete[cursor:end])
                if reference is not None and reference != closing_reference:
                    found = cursor
                    break
                cursor = end
            if found is None:
                break
            account(complete[position:found])
            current.byte_end = buffer_offset + found
            chunks.append(current)
            current = ChunkPlan(
                byte_start=current.byte_end,
                byte_end=current.byte_end,
                first_line=buffer_line + complete.count(b"\n", 0, found),
            )
            closing_reference = None
            position = found
        account(complete[position:])
        buffer_line += complete.count(b"\n")
        buffer_offset += len(complete)
        buffer = buffer[len(complete) :]
        current.byte_end = buffer_offset

    if rest:
        decoder.feed(rest, buffer_line)
        end = _last_record_end(buffer)
        if end:
            consume(buffer[:end])
    for block in blocks:
        decoder.feed(block, buffer_line + buffer.count(b"\n"))
        buffer += block
        end = _last_record_end(buffer)
        if end:
            consume(buffer[:end])
        elif len(buffer) > MAX_RECORD_BYTES:
            raise FileRejected(
                f"The record starting on line {buffer_line} never ends: no line break outside quotes in "
                f"{MAX_RECORD_BYTES // (1024 * 1024)} MB (a quote opened and never closed?)."
            )
    decoder.feed(b"", buffer_line, final=True)
    if buffer:
        # The last record, without a final line break (or with an unterminated quote).
        account(buffer)
        current.lines += 1
        buffer_offset += len(buffer)
    current.byte_end = buffer_offset
    if current.byte_end > current.byte_start:
        chunks.append(current)
    plan.encoding = decoder.encoding
    if decoder.encoding != UTF8:
        plan.warnings.append(
            f"The file is not valid UTF-8 (first at line {decoder.bad_line}); it was read as Latin-1. "
            "Save it as UTF-8 to be sure accented letters come through as written."
        )
    return plan


def _last_record_start(complete: bytes) -> int:
    """Start of the last record of ``complete`` (which ends with a record's line break)."""
    position = len(complete) - 1
    while True:
        previous = complete.rfind(b"\n", 0, position)
        if previous < 0:
            return 0
        if complete.count(b'"', previous + 1, len(complete)) % 2 == 0:
            return previous + 1
        position = previous
