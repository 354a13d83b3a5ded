"""Options written once: train.py's and the scoring command's options are their config dataclasses'
fields (crisis_model.options), a run's command line gives back its config, and a config from
anywhere is held to the same choices and bounds."""

from __future__ import annotations

import dataclasses
import math
import shlex

import pytest

import train as train_cli
from crisis_model import score as score_cli
from crisis_model.errors import ConfigError
from crisis_model.options import check_options, command_line_fields
from crisis_model.scoring import ScoreOptions
from crisis_model.training import TrainConfig, check_config
from crisis_model.training.config import command_line


def option_names(parser) -> set[str]:
    return {name for action in parser._actions for name in action.option_strings}


def test_every_config_field_is_an_option_of_its_command() -> None:
    train_options = option_names(train_cli.build_parser())
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        assert flag in train_options or f"--no-{flag[2:]}" in train_options, f.name
    score_options = option_names(score_cli.build_parser())
    assert {"--batch-size", "--chunk-rows", "--precision", "--device", "--max-image-mb", "--no-progress"} <= (
        score_options
    )
    assert len(command_line_fields(ScoreOptions)) == len(dataclasses.fields(ScoreOptions))


def test_no_option_given_is_the_default_config() -> None:
    args = train_cli.build_parser().parse_args(["--out", "runs/x"])
    assert train_cli.config_from_args(args, {}) == TrainConfig(out="runs/x")
    parsed = score_cli.build_parser().parse_args(["--run", "r", "--input", "i.csv", "--out", "o"])
    assert ScoreOptions(**{f.name: getattr(parsed, f.name) for f in dataclasses.fields(ScoreOptions)}) == (
        ScoreOptions()
    )


def changed(value: object, choices: tuple | None) -> object:
    """Another valid value of a field than `value`."""
    if isinstance(value, bool):
        return not value
    if choices:
        return next(c for c in choices if c != value)
    if isinstance(value, int):
        return value + 2
    if isinstance(value, float):
        return value / 2 if value else 0.25
    return "other"


def test_a_runs_command_line_gives_back_its_config() -> None:
    """command.txt's line (command_line) parsed again is the same config, every field changed from its
    default (flags that are on by default included)."""
    values = {}
    for f in dataclasses.fields(TrainConfig):
        default = None if f.default is dataclasses.MISSING else f.default
        values[f.name] = changed(default, f.metadata.get("choices"))
    # changed() gives a string for these
    none_by_default = {"hidden_size": 64, "threads": 3, "finetune_layers": 2, "epochs": 7, "head_epochs": 4}
    values.update(none_by_default)
    values["prompt"] = "task"
    config = TrainConfig(**values)
    argv = shlex.split(command_line(config))[2:]  # after "python train.py"
    args = train_cli.build_parser().parse_args(argv)
    assert train_cli.config_from_args(args, {}) == config
    assert "--no-drop-leaked" in argv and "--dedupe" in argv


def test_no_cache_keeps_the_features_in_memory() -> None:
    args = train_cli.build_parser().parse_args(["--out", "x", "--no-cache"])
    assert train_cli.config_from_args(args, {}).cache_dir is None
    assert "--no-cache" in command_line(TrainConfig(out="x", cache_dir=None))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1, not 0"),
        ({"lr": 0.0}, "lr must be above 0"),
        ({"lr": math.nan}, "lr must be above 0, not nan"),
        ({"dropout": 1.0}, "dropout must be at least 0 and below 1"),
        ({"warmup": -0.1}, "warmup must be at least 0"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"seed": -1}, "seed must be at least 0, not -1"),
        ({"dropout": "0.1"}, "dropout must be a number"),
        ({"device": "tpu"}, "unknown device 'tpu'; choose one of auto, cpu, cuda"),
        ({"fusion": "sum"}, "unknown fusion 'sum'"),
        ({"photo_pooling": "median"}, "unknown photo_pooling 'median'"),
    ],
)
def test_a_config_out_of_its_choices_or_bounds_is_refused_naming_the_field(change, message) -> None:
    config = dataclasses.replace(TrainConfig(out="x", data_root="d", preset="tiny"), **change)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        check_config(config)


def test_unset_optional_fields_pass_and_the_defaults_are_valid() -> None:
    check_config(TrainConfig(out="x", data_root="d", preset="tiny"))  # threads, hidden_size ... None
    check_options(ScoreOptions())
    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        check_options(ScoreOptions(precision="fp16"))


def test_the_scoring_command_refuses_bad_options_in_one_line(capsys, tmp_path) -> None:
    argv = ["--run", str(tmp_path), "--input", str(tmp_path / "p.csv"), "--out", str(tmp_path / "o")]
    assert score_cli.main([*argv, "--chunk-rows", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "error: chunk_rows must be at least 1, not 0\n"
    assert not (tmp_path / "o").exists()
