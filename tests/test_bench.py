"""The benchmark runs: `bench/run.py --smoke` measures every group with tiny sizes and writes its
table and JSON. Nothing here asserts a timing (timings belong to `bench/run.py --quick` and full
mode, read by people); it proves that the benchmark still runs against the code as it is."""

from __future__ import annotations

import json


def test_benchmark_smoke_mode_runs_every_group(tmp_path, informative_run, python_process) -> None:
    out = tmp_path / "bench.json"
    table = tmp_path / "bench.md"
    process = python_process(
        "bench/run.py",
        "--smoke",
        "--json",
        str(out),
        "--markdown",
        str(table),
        "--photos-dir",
        str(tmp_path / "photos"),
        "--trained-run",
        str(informative_run),
    )
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, f"bench/run.py --smoke failed:\n{stdout[-4000:]}\n{stderr[-4000:]}"
    figures = json.loads(out.read_text())
    rows = figures["rows"]
    measured = {row["item"] for row in rows if row["value"] is not None}
    assert {"1", "2", "4"} <= measured  # scoring, distance to the limit, growth: always measurable
    assert not [row for row in rows if row["item"] == "!"], "a group of the benchmark failed"
    names = [row["measurement"] for row in rows]
    for expected in (
        "paper: naive loop",
        "tiny: naive loop",
        "paper: FLOPs per post",
        "paper: peak matmul fp32",
        "trained demo (informative): labels unchanged by bf16",
        "largest probability change under bf16",
        "tiny: peak RSS",
    ):
        assert any(expected in name for name in names), expected
    for row in rows:  # every measured figure is a finite, positive number
        if row["value"] is not None:
            assert row["value"] == row["value"] and row["value"] >= 0, row
    assert figures["markdown"].splitlines()[2].startswith("| # | measurement |")
    assert table.read_text().strip() == figures["markdown"].strip()


def test_the_real_data_benchmarks_run_on_a_crisismmd_folder(tmp_path, demo_root, python_process) -> None:
    """bench/crisismmd_probe.py and bench/crisismmd_text.py on the 60-tweet demo (laid out as
    CrisisMMD): the probe scores majority, TF-IDF and a reader's vector; the train.py bench runs
    two seeds apart, and `--table` joins them into one row of two seeds."""
    cache = str(tmp_path / "cache")
    probe = python_process(
        "bench/crisismmd_probe.py", "--data-root", str(demo_root), "--presets", "minilm", "--cache-dir", cache
    )
    stdout, stderr = probe.communicate(timeout=600)
    assert probe.returncode == 0, f"{stdout[-3000:]}\n{stderr[-3000:]}"
    assert "| majority class |" in stdout and "| `minilm` preset's pooled vector |" in stdout
    out = str(tmp_path / "runs")
    for seed in ("0", "1"):
        text = python_process(
            "bench/crisismmd_text.py", "--data-root", str(demo_root), "--preset", "tiny", "--fusions", "text",
            "--seeds", seed, "--set", "epochs=1", "--set", "drop_leaked=false", "--out", out, "--cache-dir", cache,
        )  # fmt: skip
        stdout, stderr = text.communicate(timeout=600)
        assert text.returncode == 0, f"{stdout[-3000:]}\n{stderr[-3000:]}"
    table = python_process("bench/crisismmd_text.py", "--table", "--out", out)
    stdout, _ = table.communicate(timeout=120)
    rows = [line for line in stdout.splitlines() if line.startswith("| `python train.py")]
    assert len(rows) == 1 and "| 2 |" in rows[0], stdout
