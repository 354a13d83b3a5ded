"""Reading a collection of posts in chunks: CSV, JSON Lines or Parquet, never the whole file at once.

Every input row becomes, in file order, either an `InputRow` (text, image path as written, post id,
created_at) or a `BadRow` (its kind, one of ROW_FAULTS, and the reason). Rows are numbered from 1
in file order, bad rows included, and grouped into chunks of `chunk_rows` rows: chunk k holds rows
k * chunk_rows + 1 ... (k + 1) * chunk_rows, the same at every start, which is what lets a resumed
or several-process run skip or share chunks.

Nothing in one row stops the rows after it, and no row is lost in silence:
- a CSV record that cannot be read (a quote never closed, a cell over the csv module's field
  limit) is the fault of its first line: that line is a BadRow and the lines it took in are read
  again as rows, so a stray quote swallows nothing;
- a line longer than MAX_LINE_CHARS is a BadRow, skipped rather than held in memory;
- a Parquet row group that cannot be decoded is one BadRow for each row its footer counts;
- a cell must be text: a string (or UTF-8 bytes) that holds only characters (a JSON escape of half
  a UTF-16 pair, "\\ud800", holds none); a post_id may be an integer, created_at a number or a date.
  Anything else is a BadRow naming its type, never turned into its str().

A fault of the whole file (missing, unreadable, not Parquet, a column named twice) raises DataError
when it is opened. A missing optional column leaves its value empty; a missing `text` column leaves
every text empty (the posts are then read from their photo alone). Both are said once in `notes`.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from crisis_model.data.files import decode_utf8, lone_surrogate
from crisis_model.errors import DataError
from crisis_model.file_faults import path_fault

COLUMNS = ("text", "image_path", "post_id", "created_at")  # what a collection file may hold; text is expected
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
ROW_FAULTS = ("bad_utf8", "malformed_row", "wrong_type", "row_too_long", "unreadable_rows")
MAX_LINE_CHARS = 1 << 22  # a post is a few hundred characters; a longer line is refused unread
SHOWN_CHARS = 200  # of a bad row's text, kept for the analyst


@dataclass(frozen=True)
class InputRow:
    row: int  # from 1, in file order
    text: str
    image_path: str  # as written in the file, relative to --images
    post_id: str  # the file's post_id, else the row number
    created_at: str | None


@dataclass(frozen=True)
class BadRow:
    row: int
    kind: str  # one of ROW_FAULTS, or nothing_to_analyse (crisis_model.scoring.chunks)
    reason: str
    text: str = ""  # what could be read of it, for the analyst


@dataclass
class Chunk:
    index: int
    rows: list[InputRow | BadRow] = field(default_factory=list)


class _CellFault(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class _LineTooLong(Exception):
    pass


@dataclass
class CollectionFile:
    """An input file: its format, the notes on its columns, and an estimate of its rows."""

    path: Path
    format: str
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> CollectionFile:
        """DataError for a fault of the whole file: missing, unreadable, of an unknown type, not
        Parquet, a column named twice. An empty file is a collection of no posts (with a note)."""
        path = Path(path)
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .jsonl or .parquet")
        if fault := path_fault(path, "file"):
            raise DataError(f"{path}: {fault}")
        found = cls(path, kind)
        if path.stat().st_size == 0:
            found.notes.append(f"{path}: the file is empty: no posts to score")
        elif kind != "jsonl":  # JSON Lines: a row may lack a key; said per row instead
            found._check_columns(found._columns())
        return found

    def _columns(self) -> list[str]:
        if self.format == "parquet":
            return _parquet_file(self.path).schema_arrow.names
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            try:
                return [name.strip() for name in next(csv.reader(_RecordLines(_lines(handle)), strict=True), [])]
            except _LineTooLong:
                reason = f"longer than {MAX_LINE_CHARS:,} characters"
            except csv.Error as err:
                reason = str(err)
        raise DataError(f"{self.path}: line 1: the header cannot be read as CSV ({reason})")

    def _check_columns(self, names: list[str]) -> None:
        """A column read twice is ambiguous (which one holds the posts?): refused. A missing one is noted."""
        twice = sorted(name for name, n in Counter(names).items() if n > 1 and name in COLUMNS)
        if twice:
            raise DataError(
                f"{self.path}: the column(s) {', '.join(map(repr, twice))} appear more than once; "
                "rename or remove the extra one so that each column is read from one place"
            )
        columns = set(names)
        if "text" not in columns:
            self.notes.append(
                f"{self.path}: no 'text' column (it has {', '.join(sorted(columns)) or 'none'}): "
                "posts are read from their photo alone, posts without one cannot be scored"
            )
        if "image_path" not in columns:
            self.notes.append(f"{self.path}: no 'image_path' column: every post is scored from its text alone")

    def estimated_rows(self) -> int:
        """Parquet: exact. CSV and JSON Lines: line breaks (a quoted line break in a CSV cell counts
        twice); for the progress bar's time estimate only."""
        if self.path.stat().st_size == 0:
            return 0
        if self.format == "parquet":
            return _parquet_file(self.path).metadata.num_rows
        lines = 0
        with self.path.open("rb") as handle:
            while block := handle.read(1 << 24):
                lines += block.count(b"\n")
        return max(lines - (self.format == "csv"), 0)

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        """The file's rows in chunks of `chunk_rows` (the last may be shorter)."""
        if self.path.stat().st_size == 0:
            return
        rows = {"csv": self._csv_rows, "jsonl": self._jsonl_rows, "parquet": self._parquet_rows}[self.format]()
        chunk = Chunk(0)
        for number, make in enumerate(rows, start=1):
            chunk.rows.append(make(number))
            if len(chunk.rows) == chunk_rows:
                yield chunk
                chunk = Chunk(chunk.index + 1)
        if chunk.rows:
            yield chunk

    # Each reader yields, per input row, a function of its row number (known only when counted).

    def _csv_rows(self) -> Iterator[Callable[[int], InputRow | BadRow]]:
        """Python's csv reader (C, streaming) rather than pyarrow's: pyarrow reports a malformed row
        without its place in the file, which would shift the numbers of the rows around it. Strict:
        a quote never closed is an error, not a cell that runs to the end of the file."""
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            lines = _RecordLines(_lines(handle))
            reader = csv.reader(lines, strict=True)
            header = [name.strip() for name in next(reader, [])]
            while True:
                lines.start_record()
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except (csv.Error, _LineTooLong) as err:
                    first, last = lines.first_line(), lines.last_line()
                    if isinstance(err, _LineTooLong) and last == first:
                        kind, fault = "row_too_long", f"longer than {MAX_LINE_CHARS:,} characters"
                    elif isinstance(err, _LineTooLong):  # a quote left open runs on into a line too long
                        kind, fault = "malformed_row", f"a quoted cell runs on into line {last}, which is too long"
                    else:
                        kind, fault = "malformed_row", f"not a CSV row ({err})"
                    reason = f"{self.path}: line {first}: {fault}"
                    if last > first:
                        taken = f"line {last}" if last == first + 1 else f"lines {first + 1}-{last}"
                        reason += f"; what it took in ({taken}) is read again as rows"
                    yield _bad(kind, reason, lines.first_text())
                    lines.read_again_after_first()
                    continue
                if not fields:  # a blank line
                    continue
                first, last = lines.first_line(), lines.last_line()
                where = f"{self.path}: line {first}" if first == last else f"{self.path}: lines {first}-{last}"
                if len(fields) != len(header):
                    reason = f"{where}: {len(fields)} fields where the header has {len(header)}"
                    yield _bad("malformed_row", reason, ",".join(fields))
                    continue
                yield lambda n, fields=fields, where=where, first=first: self._csv_row(n, header, fields, where, first)

    def _csv_row(self, n: int, header: list[str], fields: list[str], where: str, first: int) -> InputRow | BadRow:
        try:
            "".join(fields).encode("utf-8")
        except UnicodeEncodeError:  # read with errors="surrogateescape": the row's bytes are not UTF-8
            raw = ",".join(fields).encode("utf-8", "surrogateescape")
            try:
                decode_utf8(raw, str(self.path), first_line=first)
            except DataError as err:
                return BadRow(n, "bad_utf8", str(err), _shown(raw.decode("utf-8", errors="replace")))
        return self._row(n, dict(zip(header, fields)), where)

    def _jsonl_rows(self) -> Iterator[Callable[[int], InputRow | BadRow]]:
        with self.path.open("rb") as handle:
            for line_number, line in enumerate(_lines(handle), start=1):
                if line is not None and not line.strip():
                    continue
                yield lambda n, line=line, at=line_number: self._json_row(n, line, at)

    def _json_row(self, n: int, line: bytes | None, line_number: int) -> InputRow | BadRow:
        where = f"{self.path}: line {line_number}"
        if line is None:
            return BadRow(n, "row_too_long", f"{where}: longer than {MAX_LINE_CHARS:,} bytes")
        try:
            record = json.loads(decode_utf8(line, str(self.path), first_line=line_number), object_pairs_hook=_Object)
        except DataError as err:
            return BadRow(n, "bad_utf8", str(err), _shown(line))
        except json.JSONDecodeError as err:
            return BadRow(n, "malformed_row", f"{where}: not valid JSON ({err.msg})", _shown(line))
        except RecursionError:
            return BadRow(n, "malformed_row", f"{where}: JSON nested too deeply to read", _shown(line))
        if not isinstance(record, dict):
            reason = f"{where}: expected a JSON object, got {_type_name(record)}"
            return BadRow(n, "malformed_row", reason, _shown(line))
        if twice := sorted(set(record.repeated) & set(COLUMNS)):
            reason = f"{where}: the key(s) {', '.join(map(repr, twice))} appear twice"
            return BadRow(n, "malformed_row", reason, _shown(line))
        return self._row(n, record, where)

    def _parquet_rows(self) -> Iterator[Callable[[int], InputRow | BadRow]]:
        source = _parquet_file(self.path)
        present = [name for name in COLUMNS if name in source.schema_arrow.names]
        for group in range(source.num_row_groups):
            expected, read = source.metadata.row_group(group).num_rows, 0
            try:
                for batch in source.iter_batches(batch_size=4096, row_groups=[group], columns=present):
                    for record in batch.to_pylist():
                        read += 1
                        yield lambda n, record=record: self._row(n, record, f"{self.path}: row {n}")
            except (pa.ArrowException, OSError) as err:  # a damaged page: its group's other rows are counted
                reason = f"{self.path}: row group {group}: cannot be decoded ({err})"
                for _ in range(expected - read):
                    yield _bad("unreadable_rows", reason)

    def _row(self, n: int, record: dict, where: str) -> InputRow | BadRow:
        """One record's cells as an InputRow; a BadRow for a cell that is not text."""
        try:
            cells = {name: _cell(name, record.get(name), where) for name in COLUMNS}
        except _CellFault as fault:
            return BadRow(n, fault.kind, fault.reason, _shown(record.get("text")))
        return InputRow(
            row=n,
            text=cells["text"] or "",
            image_path=(cells["image_path"] or "").strip(),
            post_id=cells["post_id"] or str(n),
            created_at=cells["created_at"],
        )


# ------------------------------------------------------------------------------ cells


def _cell(name: str, value: Any, where: str) -> str | None:
    """A cell as text (None when missing); _CellFault when it is not text of the kind its column holds."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = decode_utf8(value, f"{where}, column {name}")
        except DataError as err:
            raise _CellFault("bad_utf8", str(err)) from None
    elif name == "post_id" and _is_whole_number(value):
        value = str(int(value))  # pandas writes whole ids as floats in a column with a gap
    elif name == "created_at" and _is_time(value):
        value = str(value)
    elif not isinstance(value, str):
        raise _CellFault("wrong_type", f"{where}, column {name}: {_type_name(value)}, where text is expected")
    if (at := lone_surrogate(value)) is not None:
        raise _CellFault(
            "bad_utf8",
            f"{where}, column {name}: not text: it holds {value[at]!r} at character {at + 1}, half of a UTF-16 "
            "pair (a lone surrogate), which is no character",
        )
    return value


def _is_whole_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_time(value: Any) -> bool:
    """A date, a time, or a finite number (seconds since 1970)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, datetime.date | datetime.time):
        return True
    return isinstance(value, int | float) and math.isfinite(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"a number ({value})"
    if isinstance(value, int | float):
        return f"a number ({type(value).__name__})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    """What an error row shows of a cell (crisis_model.scoring.columns.storable makes it writable)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return (value if isinstance(value, str) else repr(value))[:SHOWN_CHARS]


def _bad(kind: str, reason: str, text: str = "") -> Callable[[int], BadRow]:
    return lambda n: BadRow(n, kind, reason, _shown(text))


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once (json keeps the last)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        repeats = len(self) < len(pairs)  # counted only where some key came twice
        self.repeated = [key for key, n in Counter(key for key, _ in pairs).items() if n > 1] if repeats else []


# ------------------------------------------------------------------------------ lines


def _lines(handle: IO) -> Iterator[str | bytes | None]:
    """The handle's lines; None for a line longer than MAX_LINE_CHARS, which is read past in pieces
    rather than held in memory."""
    while line := handle.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and line[-1:] not in ("\n", "\r", b"\n"):
            while (rest := handle.readline(MAX_LINE_CHARS)) and rest[-1:] not in ("\n", "\r", b"\n"):
                pass
            yield None
        else:
            yield line


class _RecordLines:
    """csv.reader's lines, numbered, remembering those of the record being read: a record that
    cannot be read gives back all but its first line, to be read again as rows of their own."""

    def __init__(self, lines: Iterator[str | None]) -> None:
        self._source = enumerate(lines, start=1)
        self._again: list[tuple[int, str | None]] = []  # a stack: the next line on top
        self._record: list[tuple[int, str | None]] = []
        self._last = 0

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        number, line = self._again.pop() if self._again else next(self._source)
        self._record.append((number, line))
        self._last = number
        if line is None:
            raise _LineTooLong
        return line

    def start_record(self) -> None:
        self._record = []

    def first_line(self) -> int:
        return self._record[0][0] if self._record else self._last + 1

    def last_line(self) -> int:
        return self._record[-1][0] if self._record else self._last

    def first_text(self) -> str:
        return (self._record[0][1] or "") if self._record else ""

    def read_again_after_first(self) -> None:
        self._again.extend(reversed(self._record[1:]))


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
