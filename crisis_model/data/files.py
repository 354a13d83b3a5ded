"""Reading text files as the loaders need them: UTF-8 with a clear error, and TSV without quoting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crisis_model.errors import DataError
from crisis_model.file_faults import os_reason


def decode_utf8(data: bytes, source: str, first_line: int = 1) -> str:
    """UTF-8 text (a BOM is dropped); DataError naming `source` and the line when it is not UTF-8
    (`data` starting at line `first_line` of `source`)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + first_line
        raise DataError(f"{source}: line {line}: not UTF-8 text ({err.reason}); save it as UTF-8") from err


def lone_surrogate(text: str) -> int | None:
    """Where `text` holds half of a UTF-16 pair standing alone (a JSON escape such as "\\ud800" makes
    one; it is no character, and no UTF-8 file or Parquet column can hold it), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def read_text(path: Path) -> str:
    """A UTF-8 text file; DataError when unreadable, empty or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({os_reason(err)})") from err
    text = decode_utf8(data, str(path))
    if not text.strip():
        raise DataError(f"{path}: empty file")
    return text


def read_tsv(path: Path, required: list[str]) -> pd.DataFrame:
    """Every cell of a tab-separated file as a string, plus a `where` column ("<file>: line
    <n>") for error messages. No quoting (csv.QUOTE_NONE): a `"` is part of the text, and
    a row with a tab too many or too few is a DataError. LF or CRLF line ends."""
    lines = [line.removesuffix("\r") for line in read_text(path).split("\n")]
    header = lines[0].split("\t")
    missing = [column for column in required if column not in header]
    if missing:
        raise DataError(f"{path}: line 1: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}")
    rows, where = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {number}: {len(fields)} tab-separated fields where the header "
                f"has {len(header)} (a tab inside the text, or a cut-off line?)"
            )
        rows.append(fields)
        where.append(f"{path}: line {number}")
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame["where"] = where
    return frame
