"""Reading a collection of posts in chunks: CSV, JSON Lines or Parquet, never the whole file at once.

Every input row becomes, in file order, either an `InputRow` (text, image path as written, post id,
created_at) or a `BadRow` (why it cannot be read: not UTF-8, malformed JSON, a CSV row with a
field too many). Rows are numbered from 1 in file order, bad rows included, and grouped into
chunks of `chunk_rows` rows: chunk k holds rows k * chunk_rows + 1 ... (k + 1) * chunk_rows, the
same at every start, which is what lets a resumed or several-process run skip or share chunks.

A missing optional column leaves its value empty; a missing `text` column leaves every text empty
(the posts are then read from their photo alone). Both are said once in the chunk source's `notes`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from crisis_model.data.files import decode_utf8
from crisis_model.errors import DataError

COLUMNS = ("text", "image_path", "post_id", "created_at")  # what a collection file may hold; text is expected
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


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
    kind: str  # one of ERROR_KINDS in crisis_model.scoring.chunks
    reason: str
    text: str = ""  # what could be read of it, for the analyst


@dataclass
class Chunk:
    index: int
    rows: list[InputRow | BadRow] = field(default_factory=list)


@dataclass
class CollectionFile:
    """An input file: its format, the notes on its columns, and an estimate of its rows."""

    path: Path
    format: str
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> CollectionFile:
        """DataError when the file is missing or of an unknown type; an empty file is a collection
        of no posts (with a note)."""
        path = Path(path)
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .jsonl or .parquet")
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        found = cls(path, kind)
        if path.stat().st_size == 0:
            found.notes.append(f"{path}: the file is empty: no posts to score")
        elif kind != "jsonl":  # JSON Lines: a row may lack a key; said per row instead
            found._note_missing(set(found._columns()))
        return found

    def _columns(self) -> list[str]:
        if self.format == "parquet":
            return pq.ParquetFile(self.path).schema_arrow.names
        with self.path.open("rb") as handle:  # the header line only
            header = handle.readline().decode("utf-8-sig", errors="replace")
        return [name.strip() for name in next(csv.reader(io.StringIO(header)), [])]

    def _note_missing(self, columns: set[str]) -> None:
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
            return pq.ParquetFile(self.path).metadata.num_rows
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

    def _csv_rows(self) -> Iterator:
        """Python's csv reader (C, streaming) rather than pyarrow's: pyarrow reports a malformed row
        without its place in the file, which would shift the numbers of the rows around it."""
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            line = reader.line_num  # where the next row starts: the line after the last one read
            try:
                for fields in reader:
                    first, line = line + 1, reader.line_num
                    where = f"{self.path}: line {first}"
                    if not fields:
                        continue
                    if len(fields) != len(header):
                        text = ",".join(fields).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                        reason = f"{where}: {len(fields)} fields where the header has {len(header)}"
                        yield lambda n, reason=reason, text=text: BadRow(n, "malformed_row", reason, text[:200])
                        continue
                    yield lambda n, fields=fields, where=where, first=first: self._csv_row(
                        n, header, fields, where, first
                    )
            except csv.Error as err:  # e.g. a NUL byte: the rest cannot be split into rows
                reason = f"{self.path}: line {reader.line_num}: the rest of the file cannot be read as CSV ({err})"
                yield lambda n: BadRow(n, "unreadable_rest", reason)

    def _csv_row(self, n: int, header: list[str], fields: list[str], where: str, first: int) -> InputRow | BadRow:
        try:
            "".join(fields).encode("utf-8")
        except UnicodeEncodeError:  # read with errors="surrogateescape": the row's bytes are not UTF-8
            raw = ",".join(fields).encode("utf-8", "surrogateescape")
            try:
                decode_utf8(raw, str(self.path), first_line=first)
            except DataError as err:
                return BadRow(n, "bad_utf8", str(err), raw.decode("utf-8", errors="replace")[:200])
        return self._row(n, dict(zip(header, fields)), where)

    def _jsonl_rows(self) -> Iterator:
        with self.path.open("rb") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                yield lambda n, line=line, at=line_number: self._json_row(n, line, at)

    def _json_row(self, n: int, line: bytes, line_number: int) -> InputRow | BadRow:
        where = f"{self.path}: line {line_number}"
        try:
            record = json.loads(decode_utf8(line, str(self.path), first_line=line_number))
        except DataError as err:
            return BadRow(n, "bad_utf8", str(err), line.decode("utf-8", errors="replace")[:200])
        except json.JSONDecodeError as err:
            return BadRow(n, "malformed_row", f"{where}: not valid JSON ({err.msg})", line.decode()[:200])
        if not isinstance(record, dict):
            return BadRow(n, "malformed_row", f"{where}: expected a JSON object, got {type(record).__name__}")
        return self._row(n, {key: record.get(key) for key in COLUMNS}, where)

    def _parquet_rows(self) -> Iterator:
        source = pq.ParquetFile(self.path)
        present = [name for name in COLUMNS if name in source.schema_arrow.names]
        for batch in source.iter_batches(batch_size=4096, columns=present):
            for record in batch.to_pylist():
                yield lambda n, record=record: self._row(n, record, f"{self.path}: row {n}")

    def _row(self, n: int, record: dict, where: str) -> InputRow | BadRow:
        """One record's cells (bytes, str, other values or None) as an InputRow; BadRow when a
        cell is not UTF-8."""
        cells: dict[str, str | None] = {}
        for name in COLUMNS:
            value = record.get(name)
            if isinstance(value, bytes):
                try:
                    value = decode_utf8(value, f"{where}, column {name}")
                except DataError as err:
                    text = record.get("text")
                    shown = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text or "")
                    return BadRow(n, "bad_utf8", str(err), shown[:200])
            cells[name] = None if value is None else str(value)
        return InputRow(
            row=n,
            text=cells["text"] or "",
            image_path=(cells["image_path"] or "").strip(),
            post_id=cells["post_id"] or str(n),
            created_at=cells["created_at"],
        )
