"""`python -m crisis_model.score`: a collection scored into Parquet parts and summary.json, the same
rows as `predict`; killed with SIGKILL at seeded random moments and started again, the rows of an
uninterrupted run; two gloo processes under torchrun, the rows of one; every kind of bad row kept
out of the way of the others and counted; a task judged from the photo leaves a post without one
empty and counts it; a bad --run refused in one line before anything is written.

The model is the session's demo informative run (tests/dashboard_support.py), whose answers differ from
post to post, so a shuffled or misplaced row would show."""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from crisis_model import load_model, predict
from crisis_model.score import main as score_main
from crisis_model.scoring import ScoreOptions, score_collection
from crisis_model.scoring.folder import ERRORS_DIR, PARTS_DIR
from tests.dashboard_support import demo_data_dir

CHUNK = 16  # 22 parts for the demo's 339 posts: kills land between and inside chunks


@pytest.fixture(scope="module")
def run(informative_run) -> Path:
    return informative_run


@pytest.fixture(scope="module")
def posts_csv(tmp_path_factory, run) -> Path:
    """The demo dataset's posts (text + a photo under the data folder, every fifth without one)."""
    data = demo_data_dir()
    rows = []
    for path in sorted((data / "crisismmd_datasplit_all").glob("task_informative_text_img_*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        for line in lines[1:]:
            cells = dict(zip(header, line.split("\t")))
            rows.append([cells["image_id"], cells["tweet_text"], cells["image"], "2017-09-0" + str(len(rows) % 9 + 1)])
    for i in range(0, len(rows), 5):
        rows[i][2] = ""
    out = tmp_path_factory.mktemp("collection") / "posts.csv"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["post_id", "text", "image_path", "created_at"])
        writer.writerows(rows)
    return out


@pytest.fixture(scope="module")
def score_cli(python_process) -> Callable[..., subprocess.Popen]:
    """`score_cli(*args)`: `python -m crisis_model.score *args` started in its own process."""
    return lambda *args, **options: python_process("-m", "crisis_model.score", *args, **options)


def arguments(run: Path, posts: Path, out: Path) -> list[str]:
    return ["--run", str(run), "--input", str(posts), "--out", str(out), "--images", str(demo_data_dir())]


def read_rows(out: Path, folder: str = PARTS_DIR) -> pd.DataFrame:
    files = sorted((out / folder).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas().sort_values("row").reset_index(drop=True)


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    numbers = [c for c in want.columns if want[c].dtype.kind == "f"]
    others = [c for c in want.columns if c not in numbers]
    pd.testing.assert_frame_equal(got[others], want[others])
    np.testing.assert_allclose(got[numbers].to_numpy(), want[numbers].to_numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, run, posts_csv, score_cli) -> Path:
    """An uninterrupted run of the command."""
    out = tmp_path_factory.mktemp("straight") / "scored"
    process = score_cli(*arguments(run, posts_csv, out), "--chunk-rows", str(CHUNK))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert stdout.startswith("scored ") and "posts/s" in stdout
    assert "posts/s" in stderr  # the progress bar
    return out


# ------------------------------------------------------------------------------ the output


def test_the_command_writes_every_post_as_predict_scores_it(straight, run, posts_csv) -> None:
    posts = pd.read_csv(posts_csv, dtype=str, keep_default_na=False)
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["scored"] == len(posts) and summary["errors"] == 0
    assert summary["text_only"] == int((posts["image_path"] == "").sum()) and summary["seconds"] > 0
    assert summary["chunks"] == -(-len(posts) // CHUNK) == len(list((straight / PARTS_DIR).glob("part-*")))
    rows = read_rows(straight)
    assert rows["row"].tolist() == list(range(1, len(posts) + 1))
    assert rows["post_id"].tolist() == posts["post_id"].tolist()
    assert rows["created_at"].tolist() == posts["created_at"].tolist()
    assert rows["has_image"].tolist() == (posts["image_path"] != "").tolist()
    assert rows["informative_label"].nunique() == 2, "a model with one answer for every post proves nothing here"

    model = load_model(run / "checkpoint", device="cpu")
    sample = posts.sample(24, random_state=0)
    images = [str(demo_data_dir() / p) if p else None for p in sample["image_path"]]
    expected = predict(model, [{"text": t, "image": i} for t, i in zip(sample["text"], images)])
    got = rows.set_index("post_id").loc[sample["post_id"]]
    assert got["informative_label"].tolist() == [p.label for p in expected]
    np.testing.assert_allclose(got["informative_confidence"], [p.confidence for p in expected], atol=1e-5)
    for group in ("text", "image", "joint"):
        np.testing.assert_allclose(
            got[f"informative_{group}_weight"], [p.explanation.modality_weights[group] for p in expected], atol=1e-5
        )
    weights = rows[["informative_text_weight", "informative_image_weight", "informative_joint_weight"]]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_a_task_judged_from_the_photo_leaves_a_post_without_one_empty_and_counts_it(tmp_path, run, posts_csv) -> None:
    """The whole demo run: damage is judged from the photo, so a text-only post gets no damage
    answer (empty cells, a warning, `not_judged`), while the other tasks answer it."""
    posts = pd.read_csv(posts_csv, dtype=str, keep_default_na=False).head(20)
    posts.to_csv(tmp_path / "posts.csv", index=False)
    options = ScoreOptions(chunk_rows=8, progress=False)
    summary = score_collection(run.parent, tmp_path / "posts.csv", tmp_path / "out", demo_data_dir(), options)
    text_only = int((posts["image_path"] == "").sum())
    assert summary["scored"] == len(posts) and summary["errors"] == 0 and text_only > 0
    assert summary["not_judged"] == {"damage": text_only}
    assert summary["warning_kinds"] == {"task_cannot_judge": text_only}
    rows = read_rows(tmp_path / "out").set_index("post_id")
    without = rows[~rows["has_image"]]
    assert len(without) == text_only and without["informative_label"].notna().all()
    assert without["humanitarian_label"].notna().all()
    damage = [c for c in rows.columns if c.startswith("damage_")]
    assert without[damage].isna().all().all()
    assert without["warnings"].str.contains("cannot judge").all()
    assert rows.loc[rows["has_image"], damage].notna().all().all()


# ------------------------------------------------------------------------------ SIGKILL and resume


def test_sigkill_at_random_moments_then_the_same_command_gives_the_uninterrupted_rows(
    tmp_path, run, posts_csv, straight, score_cli
) -> None:
    out = tmp_path / "killed"
    command = [*arguments(run, posts_csv, out), "--chunk-rows", str(CHUNK), "--no-progress"]
    rng = random.Random(20261128)
    kills, starts, landed = 0, 0, []  # landed: parts in place when each kill struck
    while True:
        process = score_cli(*command)
        starts += 1
        if kills < 3:
            deadline = time.monotonic() + 120
            while not (out / "manifest.json").exists() and process.poll() is None:  # models loaded, folder made
                assert time.monotonic() < deadline, "the command never wrote its folder"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.5))  # while reading, scoring or writing a part
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=30)
                kills += 1
                landed.append(len(list((out / PARTS_DIR).glob("part-*.parquet"))))
                continue
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        break
    assert kills >= 2 and starts == kills + 1, f"only {kills} kills struck before the scoring finished"
    assert_same_rows(read_rows(out), read_rows(straight))
    summary, uninterrupted = (json.loads((o / "summary.json").read_text()) for o in (out, straight))
    for key in ("scored", "text_only", "errors", "rows", "chunks"):
        assert summary[key] == uninterrupted[key], (key, landed)
    assert summary["chunks_done_before_this_start"] == landed[-1]
    assert not [p for p in out.rglob(".*")], "a temporary file was left behind"


# ------------------------------------------------------------------------------ torchrun


def test_two_gloo_processes_give_the_rows_of_one(tmp_path, run, posts_csv, straight, python_process) -> None:
    out = tmp_path / "two"
    command = [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "crisis_model.score",
        "--",  # else torchrun takes --run for an abbreviation of its own --run-path
        *arguments(run, posts_csv, out),
        "--chunk-rows",
        str(CHUNK),
        "--device",
        "cpu",
    ]
    process = python_process(*command, env={"OMP_NUM_THREADS": "1"})
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert stdout.count("scored ") == 1  # one closing line, from process 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2
    assert_same_rows(read_rows(out), read_rows(straight))


# ------------------------------------------------------------------------------ bad input


def photo(path: Path, size=(64, 48)) -> str:
    """A noisy picture (so its file is about as large as its pixels); its file name."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.name


def test_bad_rows_never_stop_the_collection_and_are_counted(tmp_path, run) -> None:
    images = tmp_path / "images"
    images.mkdir()
    good, big = photo(images / "good.png"), photo(images / "big.png", (200, 200))
    (images / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "outside.png").write_bytes((images / "good.png").read_bytes())
    lines = [
        b"post_id,text,image_path",
        b"ok,Bridge collapsed on route 9,",  # 1 scored
        b"utf8,caf\xe9 flooded downtown,",  # 2 error: not UTF-8
        b"empty,,",  # 3 error: neither text nor photo
        b"broken-with-text,Shelter full downtown,broken.jpg",  # 4 text-only: unreadable photo
        b"broken-alone,,broken.jpg",  # 5 error: nothing but an unreadable photo
        b"big,Roads flooded near the river," + big.encode(),  # 6 text-only: over --max-image-mb
        b"outside,Power out in the east,../outside.png",  # 7 text-only: outside --images
        b"missing,Water rising fast,nowhere.png",  # 8 text-only: no such file
        b"photo-alone,," + good.encode(),  # 9 scored from its photo
        b"fields,too,many,fields",  # 10 error: a row with a field too many
    ]
    posts = tmp_path / "bad.csv"
    posts.write_bytes(b"\n".join(lines) + b"\n")
    options = ScoreOptions(chunk_rows=4, max_image_mb=0.05, progress=False)
    summary = score_collection(run, posts, tmp_path / "out", images, options)

    assert summary["rows"] == 10 and summary["scored"] == 6 and summary["errors"] == 4
    assert summary["text_only"] == 5  # ok, broken-with-text, big, outside, missing
    assert summary["error_kinds"] == {"bad_utf8": 1, "malformed_row": 1, "nothing_to_analyse": 2}
    assert summary["warning_kinds"] == {
        "photo_missing": 1,
        "photo_outside": 1,
        "photo_too_large": 1,
        "photo_unreadable": 1,
    }
    scored = read_rows(tmp_path / "out").set_index("post_id")
    assert scored.loc["photo-alone", "has_image"] and scored.loc["photo-alone", "informative_label"]
    assert "must lie inside" in scored.loc["outside", "warnings"]
    assert "not found" in scored.loc["missing", "warnings"]
    assert "MB" in scored.loc["big", "warnings"] and scored.loc["ok", "warnings"] == ""
    assert "image ignored" in scored.loc["broken-with-text", "warnings"]
    errors = read_rows(tmp_path / "out", ERRORS_DIR).set_index("row")
    assert errors.loc[2, "kind"] == "bad_utf8" and "not UTF-8" in errors.loc[2, "reason"]
    assert errors.loc[2, "reason"].startswith(f"{posts}: line 3: not UTF-8")
    assert "caf" in errors.loc[2, "text"]
    assert errors.loc[3, "reason"].endswith("nothing to analyse: empty text and no photo")
    assert "unreadable photo" in errors.loc[5, "reason"] and errors.loc[5, "post_id"] == "broken-alone"
    assert "4 fields where the header has 3" in errors.loc[10, "reason"]


def test_other_formats_and_missing_columns(tmp_path, run) -> None:
    images = tmp_path / "images"
    images.mkdir()
    good = photo(images / "good.png")
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_bytes(
        b'{"text": "Flood water rising", "post_id": 7}\n'
        b"{not json\n"
        b"[1, 2]\n"
        b'{"image_path": "' + good.encode() + b'"}\n'  # no text key: read from the photo
        b'{"text": "caf\xe9"}\n'
    )
    summary = score_collection(run, jsonl, tmp_path / "j", images, ScoreOptions(progress=False))
    assert (summary["scored"], summary["errors"]) == (2, 3)
    assert summary["error_kinds"] == {"bad_utf8": 1, "malformed_row": 2}
    assert read_rows(tmp_path / "j")["post_id"].tolist() == ["7", "4"]

    parquet = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"text": ["Bridge down", "", "Shelter open"], "image_path": ["", "", good]}), parquet)
    summary = score_collection(run, parquet, tmp_path / "p", images, ScoreOptions(progress=False))
    assert (summary["scored"], summary["errors"], summary["text_only"]) == (2, 1, 1)

    no_text = tmp_path / "no_text.csv"
    no_text.write_text(f"image_path,post_id\n{good},a\n,b\n", encoding="utf-8")
    summary = score_collection(run, no_text, tmp_path / "n", images, ScoreOptions(progress=False))
    assert (summary["scored"], summary["errors"]) == (1, 1)
    assert any("no 'text' column" in note for note in summary["notes"])

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    summary = score_collection(run, empty, tmp_path / "e", images, ScoreOptions(progress=False))
    assert (summary["scored"], summary["errors"], summary["rows"]) == (0, 0, 0)
    assert any("empty" in note for note in summary["notes"])


def test_a_bad_run_is_one_error_line_and_nothing_is_written(tmp_path, run, posts_csv, score_cli) -> None:
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    process = score_cli("--run", str(not_a_run), "--input", str(posts_csv), "--out", str(out))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: ")
    assert str(not_a_run) in err and "not a CrisisLens run" in err
    assert not out.exists()


def test_a_folder_of_another_scoring_is_refused(tmp_path, run, posts_csv, straight, capsys) -> None:
    other = tmp_path / "other.csv"
    other.write_text("text\nBridge collapsed\n", encoding="utf-8")
    before = sorted(p.name for p in straight.rglob("*"))
    assert score_main(["--run", str(run), "--input", str(other), "--out", str(straight)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "input" in err and "another --out" in err
    assert sorted(p.name for p in straight.rglob("*")) == before
    (tmp_path / "a-file").write_text("not a folder")
    assert score_main(["--run", str(run), "--input", str(posts_csv), "--out", str(tmp_path / "a-file")]) == 2
    assert "not a folder" in capsys.readouterr().err
