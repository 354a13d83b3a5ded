"""Hostile collection files for `python -m crisis_model.score`, scored in-process with a tiny model:
a fault of one row becomes an error row (its kind, and a reason naming the file and the line or
row) while the rows around it are scored; a fault of the whole file is one CrisisLensError naming
the file, raised before anything is written; and every input row is accounted for in summary.json
(rows == scored + errors), and in the parts. A posts file to train on or to upload is read whole:
the same faults there refuse the file, naming the line (never a number read as its str()).

Every file is made here, from bytes or by pyarrow; nothing binary is committed. HOSTILE_CASES is
this surface's list (tests/hostile_cases.py counts every surface's)."""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from crisis_model.data.posts import load_posts_file, read_posts_upload
from crisis_model.errors import CrisisLensError, DataError
from crisis_model.scoring import ScoreOptions, score_collection
from crisis_model.scoring.folder import ERRORS_DIR, PARTS_DIR
from crisis_model.scoring.reader import MAX_LINE_CHARS

OPTIONS = ScoreOptions(chunk_rows=4, progress=False, device="cpu")  # several parts, so rows cross chunks


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # the input's name; its suffix says the format
    content: bytes | Callable[[Path, Path], None]  # the bytes, or write(path, photos folder)
    rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    refused: str = ""  # a fault of the whole file: words of its error
    field_limit: int | None = None  # the csv module's, for the case (a lower one keeps the file small)


def csv_rows(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def photo_row(name: str, row: bytes, **expected) -> Case:
    """A one-post CSV whose image_path (relative to the photos folder) is hostile."""
    return Case(name, "p.csv", csv_rows(b"text,image_path", row), 1, **expected)


def jsonl(*records: str) -> bytes:
    return "\n".join(records).encode("utf-8") + b"\n"


def parquet(**columns: pa.Array | list) -> Callable[[Path, Path], None]:
    return lambda path, _photos: pq.write_table(pa.table(columns), path)


def written(data: bytes) -> Callable[[Path, Path], None]:
    return lambda path, _photos: path.write_bytes(data)


def damaged_row_group(path: Path, _photos: Path) -> None:
    """Two row groups of 3 rows; the first one's page header overwritten: its footer still counts it."""
    table = pa.table({"text": [f"post {i}" for i in range(6)]})
    pq.write_table(table, path, row_group_size=3, compression="none")
    start = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def truncated_parquet(path: Path, _photos: Path) -> None:
    pq.write_table(pa.table({"text": ["a post"] * 50}), path)
    path.write_bytes(path.read_bytes()[:-30])


def a_folder(path: Path, _photos: Path) -> None:
    path.mkdir()


def a_fifo(path: Path, _photos: Path) -> None:
    os.mkfifo(path)


def absolute_photo(path: Path, photos: Path) -> None:
    path.write_text(f"text,image_path\nFlooded street,{photos / 'good.png'}\nShelter open,/etc/passwd\n")


COLLECTION_CASES = [
    # ------------------------------------------------------------------ CSV: one row at fault
    Case("csv-not-utf8", "p.csv", csv_rows(b"text", b"caf\xe9 flooded", b"ok"), 2, {"bad_utf8": 1}),
    Case("csv-not-utf8-post-id", "p.csv", csv_rows(b"text,post_id", b"ok,\xff\xfe", b"ok,2"), 2, {"bad_utf8": 1}),
    Case(
        "csv-cell-over-field-limit",
        "p.csv",
        csv_rows(b"text", b"x" * 200_000, b"after", b"last"),
        3,
        {"malformed_row": 1},
    ),
    Case(
        "csv-quote-never-closed",
        "p.csv",
        csv_rows(b"text,post_id", b"ok,1", b'"never closed,2', b"next,3", b"last,4"),
        4,
        {"malformed_row": 1},
    ),
    Case(
        "csv-quote-never-closed-past-the-field-limit",
        "p.csv",
        csv_rows(b"text", b'"open', *[b"flood " * 20] * 30),
        31,
        {"malformed_row": 1},
        field_limit=1000,
    ),
    Case(
        "csv-quote-never-closed-into-a-line-too-long",
        "p.csv",
        csv_rows(b"text", b'"open', b"y" * (MAX_LINE_CHARS + 10), b"after"),
        3,
        {"malformed_row": 1, "row_too_long": 1},
    ),
    Case("csv-quote-then-text", "p.csv", csv_rows(b"text", b'"quoted"tail', b"ok"), 2, {"malformed_row": 1}),
    Case("csv-field-too-many", "p.csv", csv_rows(b"text,post_id", b"a,1,extra", b"b,2"), 2, {"malformed_row": 1}),
    Case(
        "csv-field-too-few", "p.csv", csv_rows(b"text,post_id,created_at", b"a,1", b"b,2,2017"), 2, {"malformed_row": 1}
    ),
    Case(
        "csv-line-over-max-line",
        "p.csv",
        csv_rows(b"text", b"y" * (MAX_LINE_CHARS + 10), b"after"),
        2,
        {"row_too_long": 1},
    ),
    Case("csv-nothing-to-analyse", "p.csv", csv_rows(b"text,post_id", b",1", b"ok,2"), 2, {"nothing_to_analyse": 1}),
    Case(
        "csv-only-control-characters", "p.csv", csv_rows(b"text", b"\x00\x01\x02", b"ok"), 2, {"nothing_to_analyse": 1}
    ),
    Case("csv-multi-line-quoted-cell", "p.csv", csv_rows(b"text,post_id", b'"line one', b'line two",1', b"ok,2"), 2),
    Case("csv-nul-byte-in-text", "p.csv", csv_rows(b"text", b"flood\x00water", b"ok"), 2),
    Case("csv-crlf-line-ends", "p.csv", b"text\r\nflood\r\nfire\r\n", 2),
    Case("csv-byte-order-mark", "p.csv", b"\xef\xbb\xbftext\nflood\n", 1),
    Case("csv-blank-lines-are-no-rows", "p.csv", csv_rows(b"text", b"", b"flood", b"", b"fire"), 2),
    Case("csv-escape-text-is-just-text", "p.csv", csv_rows(b"text", b"\\ud800 flood"), 1),
    Case("csv-only-a-header", "p.csv", csv_rows(b"text,image_path"), 0),
    Case("csv-empty-file", "p.csv", b"", 0),
    Case(
        "csv-no-text-column",
        "p.csv",
        csv_rows(b"image_path,post_id", b"good.png,1", b",2"),
        2,
        {"nothing_to_analyse": 1},
    ),
    Case("csv-a-column-twice-unused", "p.csv", csv_rows(b"text,notes,notes", b"flood,a,b"), 1),
    photo_row("csv-photo-traversal", b"Flood,../../../etc/passwd", warnings={"photo_outside": 1}),
    Case("csv-photo-absolute-outside", "p.csv", absolute_photo, 2, warnings={"photo_outside": 1}),
    photo_row("csv-photo-symlink-outside", b"Flood,escape.png", warnings={"photo_outside": 1}),
    photo_row("csv-photo-fifo", b"Flood,pipe.png", warnings={"photo_missing": 1}),
    photo_row("csv-photo-pixel-bomb", b"Flood,bomb.png", warnings={"photo_unreadable": 1}),
    photo_row("csv-photo-pixel-bomb-alone", b",bomb.png", errors={"nothing_to_analyse": 1}),
    photo_row("csv-photo-not-an-image", b"Flood,broken.jpg", warnings={"photo_unreadable": 1}),
    photo_row("csv-photo-empty-file", b"Flood,empty.png", warnings={"photo_unreadable": 1}),
    photo_row("csv-photo-nul-in-path", b"Flood,a\x00b.png", warnings={"photo_outside": 1}),
    photo_row("csv-photo-alone-is-scored", b",good.png"),
    # ------------------------------------------------------------------ CSV: the whole file at fault
    Case(
        "csv-text-column-twice",
        "p.csv",
        csv_rows(b"text,post_id,text", b"first,1,second"),
        refused="'text' appear more",
    ),
    Case(
        "csv-image-path-column-twice",
        "p.csv",
        csv_rows(b"text,image_path,image_path", b"a,b,c"),
        refused="'image_path' appear more",
    ),
    Case("csv-header-quote-never-closed", "p.csv", csv_rows(b'"text,post_id', b"a,1"), refused="header cannot be read"),
    Case(
        "csv-header-too-long",
        "p.csv",
        csv_rows(b"text," + b"h" * (MAX_LINE_CHARS + 10), b"a"),
        refused="header cannot be read as CSV (longer than",
    ),
    Case("csv-missing-file", "p.csv", lambda path, _photos: None, refused="no such file"),
    Case("csv-a-folder", "p.csv", a_folder, refused="not a file but a folder"),
    Case("csv-a-fifo", "p.csv", a_fifo, refused="not a file but a named pipe"),
    Case("unknown-suffix", "p.txt", b"text\nflood\n", refused="unsupported file type"),
    Case("nul-in-input-name", "p\x00q.csv", lambda path, _photos: None, refused="not a usable path"),
    # ------------------------------------------------------------------ JSON Lines: one row at fault
    Case("jsonl-lone-surrogate-text", "p.jsonl", jsonl('{"text": "\\ud800"}', '{"text": "ok"}'), 2, {"bad_utf8": 1}),
    Case(
        "jsonl-lone-surrogate-in-words",
        "p.jsonl",
        jsonl('{"text": "flood \\udfff here"}', '{"text": "ok"}'),
        2,
        {"bad_utf8": 1},
    ),
    Case(
        "jsonl-lone-surrogate-post-id",
        "p.jsonl",
        jsonl('{"text": "a", "post_id": "\\udc80"}', '{"text": "b"}'),
        2,
        {"bad_utf8": 1},
    ),
    Case(
        "jsonl-lone-surrogate-image-path",
        "p.jsonl",
        jsonl('{"text": "a", "image_path": "\\ud800.png"}'),
        1,
        {"bad_utf8": 1},
    ),
    Case("jsonl-surrogate-pair-is-a-character", "p.jsonl", jsonl('{"text": "wave \\ud83c\\udf0a"}'), 1),
    Case("jsonl-text-integer", "p.jsonl", jsonl('{"text": 42}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-float", "p.jsonl", jsonl('{"text": 4.5}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-nan", "p.jsonl", jsonl('{"text": NaN}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-infinity", "p.jsonl", jsonl('{"text": -Infinity}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-true", "p.jsonl", jsonl('{"text": true}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-list", "p.jsonl", jsonl('{"text": ["flood"]}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-text-object", "p.jsonl", jsonl('{"text": {"en": "flood"}}', '{"text": "ok"}'), 2, {"wrong_type": 1}),
    Case("jsonl-image-path-number", "p.jsonl", jsonl('{"text": "a", "image_path": 7}'), 1, {"wrong_type": 1}),
    Case(
        "jsonl-post-id-list", "p.jsonl", jsonl('{"text": "a", "post_id": [1]}', '{"text": "b"}'), 2, {"wrong_type": 1}
    ),
    Case("jsonl-post-id-true", "p.jsonl", jsonl('{"text": "a", "post_id": true}'), 1, {"wrong_type": 1}),
    Case("jsonl-created-at-object", "p.jsonl", jsonl('{"text": "a", "created_at": {"day": 1}}'), 1, {"wrong_type": 1}),
    Case(
        "jsonl-text-key-twice",
        "p.jsonl",
        jsonl('{"text": "first", "text": "second"}', '{"text": "ok"}'),
        2,
        {"malformed_row": 1},
    ),
    Case("jsonl-nested-too-deep", "p.jsonl", jsonl("[" * 100_000, '{"text": "ok"}'), 2, {"malformed_row": 1}),
    Case("jsonl-not-json", "p.jsonl", jsonl("{not json", '{"text": "ok"}'), 2, {"malformed_row": 1}),
    Case("jsonl-an-array", "p.jsonl", jsonl("[1, 2]", '{"text": "ok"}'), 2, {"malformed_row": 1}),
    Case("jsonl-a-string", "p.jsonl", jsonl('"flood"', '{"text": "ok"}'), 2, {"malformed_row": 1}),
    Case("jsonl-not-utf8", "p.jsonl", b'{"text": "caf\xe9"}\n{"text": "ok"}\n', 2, {"bad_utf8": 1}),
    Case(
        "jsonl-line-over-max-line",
        "p.jsonl",
        jsonl('{"text": "' + "z" * MAX_LINE_CHARS + '"}', '{"text": "ok"}'),
        2,
        {"row_too_long": 1},
    ),
    Case("jsonl-text-null", "p.jsonl", jsonl('{"text": null}', '{"text": "ok"}'), 2, {"nothing_to_analyse": 1}),
    Case(
        "jsonl-no-text-key",
        "p.jsonl",
        jsonl('{"image_path": "good.png"}', '{"post_id": 3}'),
        2,
        {"nothing_to_analyse": 1},
    ),
    Case(
        "jsonl-post-id-and-created-at-numbers", "p.jsonl", jsonl('{"text": "a", "post_id": 7, "created_at": 1.5e9}'), 1
    ),
    Case("jsonl-byte-order-mark", "p.jsonl", b'\xef\xbb\xbf{"text": "flood"}\n', 1),
    Case("jsonl-blank-lines-are-no-rows", "p.jsonl", b'\n{"text": "a"}\n  \n{"text": "b"}\n', 2),
    # ------------------------------------------------------------------ Parquet
    Case("parquet-text-integers", "p.parquet", parquet(text=[1, 2]), 2, {"wrong_type": 2}),
    Case("parquet-text-floats-and-nan", "p.parquet", parquet(text=[1.5, float("nan")]), 2, {"wrong_type": 2}),
    Case("parquet-text-lists", "p.parquet", parquet(text=[["a"], ["b", "c"]]), 2, {"wrong_type": 2}),
    Case("parquet-text-structs", "p.parquet", parquet(text=[{"en": "a"}, {"en": "b"}]), 2, {"wrong_type": 2}),
    Case(
        "parquet-text-bytes-not-utf8",
        "p.parquet",
        parquet(text=pa.array([b"\xff\xfe", b"ok"], pa.binary())),
        2,
        {"bad_utf8": 1},
    ),
    Case("parquet-text-bytes-utf8", "p.parquet", parquet(text=pa.array([b"flood"], pa.binary())), 1),
    Case(
        "parquet-text-null",
        "p.parquet",
        parquet(text=pa.array([None, "ok"], pa.string())),
        2,
        {"nothing_to_analyse": 1},
    ),
    Case("parquet-text-dictionary", "p.parquet", parquet(text=pa.array(["a", "b", "a"]).dictionary_encode()), 3),
    Case("parquet-text-large-string", "p.parquet", parquet(text=pa.array(["a", "b"], pa.large_string())), 2),
    Case(
        "parquet-created-at-timestamps",
        "p.parquet",
        parquet(text=["a"], created_at=pa.array([datetime(2017, 9, 1, 10)], pa.timestamp("s"))),
        1,
    ),
    Case("parquet-post-id-floats", "p.parquet", parquet(text=["a"], post_id=[1.5]), 1, {"wrong_type": 1}),
    # pandas writes a column of whole ids with a gap as floats: 1.0 is the id "1"
    Case("parquet-post-id-whole-floats-with-a-gap", "p.parquet", parquet(text=["a", "b"], post_id=[1.0, None]), 2),
    Case("parquet-damaged-row-group", "p.parquet", damaged_row_group, 6, {"unreadable_rows": 3}),
    Case(
        "parquet-text-column-twice",
        "p.parquet",
        lambda path, _photos: pq.write_table(
            pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"]), path
        ),
        refused="'text' appear more",
    ),
    Case("parquet-truncated", "p.parquet", truncated_parquet, refused="not a readable Parquet file"),
    Case("parquet-fake", "p.parquet", written(b"PAR1" + b"\x00" * 64 + b"PAR1"), refused="not a readable Parquet"),
    Case("parquet-csv-inside", "p.parquet", written(b"text\nflood\n"), refused="not a readable Parquet file"),
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The --images folder: a photo, a broken one, an empty one, a pixel bomb, a FIFO and a link
    that leads outside it."""
    folder = tmp_path_factory.mktemp("photos")
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "good.png")
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(pixel_bomb(50_000, 50_000))
    os.mkfifo(folder / "pipe.png")
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes((folder / "good.png").read_bytes())
    (folder / "escape.png").symlink_to(outside)
    return folder


def pixel_bomb(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    data = zlib.compress(b"\x00" + b"\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
        + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )  # fmt: skip


def read_parts(out: Path, folder: str) -> pa.Table | None:
    files = sorted((out / folder).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


@pytest.mark.parametrize("case", COLLECTION_CASES, ids=lambda case: case.id)
def test_every_row_of_a_hostile_collection_is_scored_or_an_error_row(case, tiny_run, photos, tmp_path, request) -> None:
    path, out = tmp_path / case.file, tmp_path / "out"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        case.content(path, photos)
    if case.field_limit:
        previous = csv.field_size_limit(case.field_limit)  # met before the end of a small file
        request.addfinalizer(lambda: csv.field_size_limit(previous))
    if case.refused:
        with pytest.raises(CrisisLensError, match=re.escape(case.refused)) as refused:
            score_collection(tiny_run, path, out, photos, OPTIONS)
        assert str(refused.value).startswith(str(path)), "the error names the file"
        assert not out.exists(), "a refused file writes nothing"
        return
    score_collection(tiny_run, path, out, photos, OPTIONS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == summary["scored"] + summary["errors"] == case.rows
    assert summary["error_kinds"] == case.errors
    assert summary["warning_kinds"] == case.warnings
    scored, errors = read_parts(out, PARTS_DIR), read_parts(out, ERRORS_DIR)
    numbers = sorted(row["row"] for part in (scored, errors) if part for row in part.to_pylist())
    assert numbers == list(range(1, case.rows + 1)), "every row once, in its place"
    for row in errors.to_pylist() if errors else []:
        if row["kind"] != "nothing_to_analyse":
            assert row["reason"].startswith(f"{path}: ") and (" line" in row["reason"] or " row" in row["reason"])


POSTS_FILE_CASES = [  # (name, file name, content, words of the DataError; "" where the file is read)
    ("text-integer", "p.jsonl", jsonl('{"text": 42}'), "line 1: 'text' must be text, not int 42"),
    ("text-nan", "p.jsonl", jsonl('{"text": "a"}', '{"text": NaN}'), "line 2: 'text' must be text, not float nan"),
    ("text-list", "p.jsonl", jsonl('{"text": ["a"]}'), "'text' must be text, not list"),
    ("text-object", "p.jsonl", jsonl('{"text": {"en": "a"}}'), "'text' must be text, not dict"),
    ("label-a-number", "p.jsonl", jsonl('{"text": "a", "label": 1}'), "'label' must be text, not int"),
    ("image-path-a-number", "p.jsonl", jsonl('{"text": "a", "image_path": 3}'), "'image_path' must be text"),
    ("post-id-true", "p.jsonl", jsonl('{"text": "a", "post_id": true}'), "'post_id' must be text, not bool"),
    ("post-id-a-whole-number", "p.jsonl", jsonl('{"text": "a", "post_id": 7}'), ""),
    ("lone-surrogate-text", "p.jsonl", jsonl('{"text": "\\ud800"}'), "'text' holds '\\ud800', half of a UTF-16"),
    ("lone-surrogate-other-field", "p.jsonl", jsonl('{"text": "a", "note": "\\udc00"}'), "'note' holds"),
    ("csv-quote-never-closed", "p.csv", csv_rows(b"text", b"ok", b'"never closed', b"next"), "malformed CSV"),
    ("csv-cell-over-field-limit", "p.csv", csv_rows(b"text", b"x" * 200_000), "malformed CSV (field larger"),
    ("jsonl-nested-too-deeply", "p.jsonl", b"[" * 200_000 + b"\n", "line 1: JSON nested too deeply"),
]


@pytest.mark.parametrize(("name", "file", "content", "words"), POSTS_FILE_CASES, ids=[c[0] for c in POSTS_FILE_CASES])
def test_a_posts_file_to_train_on_or_upload_is_refused_naming_the_line(name, file, content, words, tmp_path) -> None:
    (tmp_path / file).write_bytes(content)
    readers = (lambda: load_posts_file(tmp_path / file), lambda: read_posts_upload(content, file, None))
    for read in readers:
        if not words:
            assert len(read()) == 1
            continue
        with pytest.raises(DataError, match=re.escape(words)) as refused:
            read()
        assert str(refused.value).startswith(str(tmp_path / file) if read is readers[0] else file)


HOSTILE_CASES = [*COLLECTION_CASES, *POSTS_FILE_CASES]
