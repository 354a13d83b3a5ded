"""Exports that cannot attack their reader: every CSV the dashboard hands out (Browse's table, the
reviewed set, Analyse's scored file) defuses cells a spreadsheet would run as formulas (a ' in front,
OWASP's advice) and quotes every cell holding a line break or a carriage return, so each row reads
back whole, through the csv module and through pandas."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from crisis_dashboard import csv_scoring, export

FORMULAS = [  # a spreadsheet would evaluate each of these
    "=1+1",
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "+SUM(A1:A9)",
    "-1+1",
    "-2",
    "@SUM(A1:A9)",
    "@cmd",
    "\t=1+1",
    "\tplain after a tab",
    "\r=1+1",
]
BREAKS = [  # each must stay inside its one cell
    "line one\nline two",
    "carriage\rreturn",
    "windows\r\nbreak",
    "trailing break\n",
    "\nleading break",
    "\r",
    'a "quoted" word, and a comma',
    '"',
    ",,,",
    "a\x00nul",
    "tab\tinside",
    "😀 emoji and عربى",
]
SAFE = ["plain words", "", "1+1= two", "mid-dash", "email@example.org", "' already quoted"]
HOSTILE_CASES = FORMULAS + BREAKS


def expected(cell: str) -> str:
    return "'" + cell if cell.startswith(export.FORMULA_STARTS) else cell


def table(cells: list[str]) -> pd.DataFrame:
    n = len(cells)
    return pd.DataFrame({"post_id": [f"p{i}" for i in range(n)], "text": cells, "confidence": [0.5] * n})


def read_back_with_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("cell", HOSTILE_CASES + SAFE)
def test_each_cell_reads_back_in_its_row_and_a_formula_is_defused(cell) -> None:
    data = export.to_csv(table(["before", cell, "after"]))
    rows = read_back_with_csv(data)
    assert [row[0] for row in rows] == ["post_id", "p0", "p1", "p2"]  # no row split, none made up
    assert [row[1] for row in rows[1:]] == ["before", expected(cell), "after"]
    back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["before", expected(cell), "after"]
    assert back["confidence"].tolist() == ["0.5"] * 3  # numbers are not touched


def test_every_hostile_cell_at_once_in_every_export() -> None:
    cells = HOSTILE_CASES + SAFE
    frame = table(cells).assign(event=cells[::-1])
    scored = frame.rename(columns={"confidence": "informative_confidence"})
    for name, data in (
        ("Browse and the reviewed set", export.to_csv(export.export_table(frame))),
        ("Analyse's scored file", csv_scoring.as_csv(scored)),
    ):
        rows = read_back_with_csv(data)
        assert len(rows) == len(cells) + 1, name
        back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        assert back["text"].tolist() == [expected(c) for c in cells], name
        assert back["event"].tolist() == [expected(c) for c in cells[::-1]], name
        formulas = [c for row in rows[1:] for c in row if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert formulas == [], name


def test_the_written_file_quotes_a_bare_carriage_return() -> None:
    data = export.to_csv(table(["a\rb"]))
    assert b'"a\rb"' in data and data.count(b"\r\n") == 2  # the header's end and the row's
