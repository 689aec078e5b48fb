"""Reading a chunk's records in Python, with the physical line each starts on.

Used by databases without COPY, and on PostgreSQL for chunks its COPY cannot take as
they are (a quoted line break, mixed line endings, a malformed record). Structural
problems (wrong number of fields, unreadable records) are reported per record here; cell
checks are the format's (``orders.imports.format``).
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from orders.imports.format import UNREADABLE_ROW, WRONG_FIELD_COUNT

# One field may be as long as a record we accept at all (a 10 MB line is read, then
# rejected by the cell checks, instead of stopping the parser).
MAX_FIELD_BYTES = 32 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_BYTES))

# Cells kept with a rejected row, each cut to this many characters.
KEPT_CELL_CHARS = 1000


class _BlockReader(io.RawIOBase):
    """A file-like view of an iterator of byte blocks (read once, forward only)."""

    def __init__(self, blocks: Iterable[bytes]):
        self._blocks = iter(blocks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._blocks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass
class Record:
    line: int
    cells: list[str] | None  # None when the record could not be used
    problem: int = 0
    reason: str = ""


def kept_cells(cells: list[str]) -> list[str]:
    """A rejected row's cells as stored: cut short, a NUL shown as U+FFFD (PostgreSQL's
    text and JSON hold no NUL: storing one failed the whole chunk)."""
    return [cell[:KEPT_CELL_CHARS].replace("\x00", "\ufffd") for cell in cells]


def iter_records(blocks: Iterable[bytes], *, encoding: str, first_line: int, field_count: int) -> Iterator[Record]:
    """Every non-blank record of the chunk, with structural problems marked."""
    text = io.TextIOWrapper(io.BufferedReader(_BlockReader(blocks), 1024 * 1024), encoding=encoding, newline="")
    reader = csv.reader(text)
    consumed = 0  # lines read so far
    while True:
        start = first_line + consumed
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            consumed = reader.line_num
            yield Record(start, None, UNREADABLE_ROW, f"cannot be read as CSV: {exc}")
            continue
        except UnicodeDecodeError as exc:
            yield Record(start, None, UNREADABLE_ROW, f"is not valid {encoding}: {exc.reason}")
            return
        consumed = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # blank line
        if len(cells) != field_count:
            yield Record(
                start,
                cells,
                WRONG_FIELD_COUNT,
                f"has {len(cells)} field{'s' if len(cells) != 1 else ''}; the header has {field_count}",
            )
            continue
        if any("\x00" in cell for cell in cells):
            yield Record(start, cells, UNREADABLE_ROW, "holds a NUL byte (binary data)")
            continue
        yield Record(start, cells)
