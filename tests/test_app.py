"""The dashboard under streamlit.testing.v1.AppTest: every page runs without an exception on the demo
run, the filters change the table, the analyse flow shows predictions and the explanation figures,
and bad input (empty post, unreadable photo, CSV without `text`, a folder that is no run, a folder
that is no CrisisMMD) is answered on the page. Plus the pure parts: figures and filters."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from crisis_dashboard import browse, csv_scoring, first_start, literal, model_cards, post_figures, widgets
from crisis_dashboard import figures as plots
from crisis_dashboard import state as app_state
from crisis_dashboard.routing import page_file
from crisis_model import CrisisLensError
from crisis_model.predictions import normalise as normalise_predictions
from crisis_model.run_folder import demo_run_complete, discover_run
from crisis_model.training import ProgressEvent
from tests.dashboard_support import BROWSE, TIMEOUT, answers, assert_clean, charts, photo_bytes

REPO = Path(__file__).resolve().parents[1]
ANALYSE = page_file("analyse")
ATTENTION = page_file("attention")


# ------------------------------------------------------------------------------ every page


def test_overview_on_the_demo_default(app):
    at = app()
    assert_clean(at)
    assert at.title[0].value == "CrisisLens overview"
    assert any("Demo mode" in i.value and "CRISISMMD_ROOT" in i.value for i in at.info)
    assert charts(at) >= 6  # events, photos, 3 label distributions, confusion matrix (+ history, ablation)
    text = " ".join(m.value for m in at.markdown)
    for fact in ("Preset", "Text reader", "Photo reader", "Fusion", "Parameters", "Training data", "Trained"):
        assert fact in text
    assert len(at.dataframe) >= 1  # the metrics table


def matching(at: AppTest) -> int:
    """The number of matching posts the page reports (0 when it says none match)."""
    line = next((m.value for m in at.markdown if "matching posts" in m.value), None)
    if line is None:
        assert any("No post matches" in w.value for w in at.warning)
        return 0
    return int(line.split("**")[1].replace(",", ""))


def test_browse_filters_change_the_table(app):
    at = app(BROWSE)
    assert_clean(at)
    table = at.dataframe[0].value
    total = matching(at)
    assert total > 0 and len(table) == min(total, 50)

    counts = {}
    for outcome in ("right", "wrong"):
        at.radio(key="br-outcome").set_value(outcome).run()
        assert_clean(at)
        counts[outcome] = matching(at)
        if counts[outcome]:
            shown = at.dataframe[0].value["Right?"]
            assert shown.str.contains(outcome).all()
    assert counts["right"] + counts["wrong"] == total
    at.radio(key="br-outcome").set_value("all").run()

    first_event = at.multiselect(key="br-events").options[0]
    at.multiselect(key="br-events").set_value([first_event]).run()
    assert_clean(at)
    assert set(at.dataframe[0].value["Event"]) == {plots.pretty(first_event)}
    assert 0 < matching(at) < total

    at.multiselect(key="br-events").set_value([])
    at.slider(key="br-conf").set_value((0.0, 0.0)).run()
    assert matching(at) == 0
    at.slider(key="br-conf").set_value((0.0, 1.0))
    word = table["Text"].iloc[0].split()[0]
    at.text_input(key="br-query").input(word).run()
    assert_clean(at)
    assert 0 < matching(at) <= total
    assert at.dataframe[0].value["Text"].str.contains(word, case=False, regex=False).all()
    at.text_input(key="br-query").input("zzzz-no-such-words").run()
    assert not at.exception
    assert matching(at) == 0


def test_browse_opens_a_post_with_its_explanation(app):
    at = app(BROWSE)
    post = at.selectbox(key="br-post").options[1]  # options[0] is the empty choice
    at.selectbox(key="br-post").set_value(at.dataframe[0].value["Post"].iloc[0]).run()
    assert_clean(at)
    assert post
    assert any(h.value == "Why the model said this" for h in at.subheader)
    # probabilities, and routing + capsules, or (a post with a photo) the three attention charts
    assert charts(at) >= 3
    assert len(at.caption) >= 3


def test_analyse_text_and_photo(app, demo_run):
    at = app(ANALYSE)
    assert_clean(at)
    at.text_area(key="an-text").input("Bridge collapsed after the flood, families need rescue boats")
    at.file_uploader(key="an-image").set_value(("photo.jpg", photo_bytes(), "image/jpeg"))
    at.button[0].click().run()
    assert_clean(at)
    assert any("together with the photo" in s.value for s in at.success)
    runs = discover_run(demo_run).runs
    assert len(answers(at.markdown)) == len(runs)  # one answer per trained task
    # per task: probabilities, the votes' weights, then "Where it looked": what in the photo mattered, and
    # (one click away) the attention: word->region, the photo with it, the words the photo looked at
    assert charts(at) == 6 * len(runs)
    captions = " ".join(c.value for c in at.caption)
    for key in ("modality", "mattered", "attention_caveat", "token_region"):
        assert plots.CAPTIONS[key] in captions, key
    assert plots.CAPTIONS["routing"] not in captions
    tested = [m.value for m in at.markdown if m.value.startswith("**Tested by removing each part:**")]
    assert len(tested) == len(runs) and all("without its **photo**" in line for line in tested)
    votes = [m.value for m in at.markdown if m.value.startswith("**Each part's own answer:**")]
    assert len(votes) == len(runs) and all("the photo alone says" in line for line in votes)

    at.segmented_control(key="an-informative-view").set_value(widgets.HOW_COMBINED).run()
    assert_clean(at)
    # that task now shows each part's own answer, with routing + capsules one click away, instead of
    # the four photo and attention charts
    assert charts(at) == 6 * len(runs) - 1
    captions = " ".join(c.value for c in at.caption)
    assert plots.CAPTIONS["votes"] in captions and plots.CAPTIONS["routing"] in captions


def test_analyse_text_alone_is_text_only(app):
    at = app(ANALYSE)
    at.text_area(key="an-text").input("Volunteers hand out water and food at the shelter")
    at.button[0].click().run()
    assert_clean(at)
    assert any("text only" in i.value for i in at.info)
    said = answers(at.markdown)
    assert len(said) == 3 and said[2] == widgets.CANNOT_JUDGE  # damage is judged from the photo: none here
    assert widgets.CANNOT_JUDGE not in said[:2]
    assert any("no usable photo" in c.value for c in at.caption)
    assert charts(at) >= 3


def test_a_posts_markdown_and_html_are_shown_as_typed(app):
    hostile = "**Bridge** down [help](javascript:alert(1)) $x$ <b>flood</b>"
    at = app(ANALYSE)
    at.text_area(key="an-text").input(hostile)
    at.button[0].click().run()
    assert_clean(at)
    assert hostile in [t.value for t in at.text]  # once under each task's tab
    assert not [m.value for m in at.markdown if "javascript" in m.value or "**Bridge**" in m.value]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_analyse_bad_input_is_answered_on_the_page(app):
    at = app(ANALYSE)
    at.button[0].click().run()  # nothing typed, nothing uploaded
    assert not at.exception
    assert any("The post is empty" in e.value for e in at.error)

    at.text_area(key="an-text").input("Roof torn off, road blocked")
    at.file_uploader(key="an-image").set_value(("photo.png", b"this is not an image", "image/png"))
    at.button[0].click().run()
    assert not at.exception
    assert any("could not be read" in e.value for e in at.error)
    assert any("as text only" in w.value for w in at.warning)
    assert len(answers(at.markdown)) >= 1  # still analysed, from the text

    big = Image.new("RGB", (9000, 5000))  # 45 megapixels: refused before decoding
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    at.file_uploader(key="an-image").set_value(("huge.png", buffer.getvalue(), "image/png"))
    at.button[0].click().run()
    assert not at.exception
    assert any("could not be read" in e.value and "pixels" in e.value for e in at.error)


def test_batch_csv(app):
    at = app(ANALYSE)
    uploader = at.file_uploader(key="an-csv")
    uploader.set_value(("posts.csv", b"message\nhello\n", "text/csv")).run()
    assert not at.exception
    assert any("no 'text' column" in e.value for e in at.error)

    csv = "text,image_path\nBridge collapsed in the flood,\nFree pizza tonight,/etc/passwd\n,\n"
    at.file_uploader(key="an-csv").set_value(("posts.csv", csv.encode(), "text/csv")).run()
    assert_clean(at)
    score = next(b for b in at.button if b.label.startswith("Score"))
    score.click().run()
    assert_clean(at)
    scored = at.session_state["an-scored"][1]
    assert len(scored) == 3
    assert scored.loc[0, "informative_label"] in ("informative", "not_informative")
    assert "must lie inside" in scored.loc[1, "note"]
    assert "nothing to analyse" in scored.loc[2, "note"]
    assert len(at.get("download_button")) == 1


def test_attention_and_routing(app):
    at = app(ATTENTION)
    assert_clean(at)
    assert charts(at) >= 3  # per class, per event, confidence vs words (+ routing per class)
    assert any("Only one run" in i.value for i in at.info)


def test_attention_compares_two_runs(app, demo_run, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(demo_run / "informative", other / "informative")
    at = app(ATTENTION)
    at.text_input(key="at-other-typed").input(str(other)).run()
    assert_clean(at)
    assert len(answers(at.markdown)) == 2
    assert charts(at) >= 5


def test_overview_shows_the_fusion_ablation(app, demo_run, tmp_path, monkeypatch):
    """train.py's ablation: <out>/ablation.json beside one run folder per variant and seed."""
    for variant in ("text", "full"):
        shutil.copytree(demo_run / "informative", tmp_path / f"{variant}-seed0")
    rows = [
        {
            "fusion": v,
            "runs": [str(tmp_path / f"{v}-seed0")],
            "dev": {
                "macro_f1": {"mean": m, "std": 0.0, "values": [m]},
                "accuracy": {"mean": a, "std": 0.0, "values": [a]},
            },
        }
        for v, m, a in (("text", 0.6, 0.7), ("full", 0.7, 0.8))
    ]
    (tmp_path / "ablation.json").write_text(
        json.dumps({"axis": "fusion", "task": "informative", "seeds": [0], "rows": rows})
    )
    (tmp_path / "ablation.md").write_text("| fusion | dev macro-F1 |\n|---|---|\n| text | 0.6 |\n| full | 0.7 |\n")
    monkeypatch.setenv("CRISISLENS_RUN", str(tmp_path))
    at = app()
    assert_clean(at)
    assert any(s.value == "Fusion variants side by side" for s in at.subheader)
    full = discover_run(tmp_path).runs["informative (full-seed0)"]
    table, variant, metrics, _ = model_cards.load_ablation(full)
    assert variant == "fusion" and metrics[:2] == ["dev_macro_f1_mean", "dev_accuracy_mean"]
    assert table["fusion"].tolist() == ["text", "full"]


# ------------------------------------------------------------------------------ a scored collection


@pytest.fixture(scope="module")
def scored_collection(tmp_path_factory, demo_run) -> Path:
    """The demo data's dev posts scored by every model of the demo run (python -m crisis_model.score's
    code), plus a row that is not UTF-8 and one with nothing to analyse."""
    from crisis_model.scoring import ScoreOptions, score_collection

    data = Path(json.loads((demo_run / "informative" / "train_config.json").read_text())["data_root"])
    table = pd.read_csv(data / "crisismmd_datasplit_all" / "task_informative_text_img_dev.tsv", sep="\t", dtype=str)
    base = tmp_path_factory.mktemp("collection")
    lines = [b"post_id,text,image_path"]
    for _, row in table.head(60).iterrows():
        lines.append(
            ",".join([row["image_id"], '"' + row["tweet_text"].replace('"', '""') + '"', row["image"]]).encode()
        )
    lines += [b"latin,caf\xe9 flooded,", b"empty,,"]
    posts = base / "posts.csv"
    posts.write_bytes(b"\n".join(lines) + b"\n")
    summary = score_collection(demo_run, posts, base / "scored", data, ScoreOptions(chunk_rows=16, progress=False))
    assert summary["errors"] == 2 and summary["scored"] == min(60, len(table))
    return base / "scored"


def shown(at: AppTest) -> int:
    """The number of matching posts Browse reports for a collection (0 when none match)."""
    line = next((m.value for m in at.markdown if "matching posts" in m.value), None)
    return 0 if line is None else int(line.split("**")[1].replace(",", ""))


def test_browse_pages_through_a_scored_collection(app, scored_collection):
    at = app(BROWSE, collection_root=str(scored_collection))
    assert_clean(at)
    assert at.radio(key="br-source").value == "collection"
    total = shown(at)
    assert total == json.loads((scored_collection / "summary.json").read_text())["scored"]
    table = at.dataframe[0].value
    assert len(table) == min(total, 50)
    assert {"Informative or not", "Humanitarian category", "Damage severity", "Text"} <= set(table.columns)

    at.selectbox(key="bc-size").set_value(25).run()
    first_page = at.dataframe[0].value["Post"].tolist()
    at.number_input(key="bc-page").set_value(2).run()
    assert_clean(at)
    second_page = at.dataframe[0].value["Post"].tolist()
    assert len(first_page) == 25 and second_page and not set(first_page) & set(second_page)

    answer = table["Answer"].iloc[0]
    label = next(o for o in at.multiselect(key="bc-labels-informative").options if plots.pretty(o) == answer)
    at.multiselect(key="bc-labels-informative").set_value([label]).run()
    assert_clean(at)
    assert set(at.dataframe[0].value["Answer"]) == {answer} and 0 < shown(at) <= total
    assert at.number_input(key="bc-page").value == 1  # new filters: back to the first page
    at.multiselect(key="bc-labels-informative").set_value([])
    at.slider(key="bc-conf").set_value((0.0, 0.0)).run()
    assert shown(at) == 0 and any("No post matches" in w.value for w in at.warning)
    at.slider(key="bc-conf").set_value((0.0, 1.0))
    word = table["Text"].iloc[0].split()[0]
    at.text_input(key="bc-query").input(word.upper()).run()
    assert 0 < shown(at) <= total
    assert at.dataframe[0].value["Text"].str.contains(word, case=False, regex=False).all()
    at.text_input(key="bc-query").input("")
    at.radio(key="bc-photo").set_value("without").run()
    assert shown(at) == 0 or (at.dataframe[0].value["Photo"] == "text only").all()
    at.radio(key="bc-photo").set_value("all").run()

    post = at.selectbox(key="bc-post").options[1]
    at.selectbox(key="bc-post").set_value(post.split(" · ")[0]).run()
    assert_clean(at)
    assert any(h.value.startswith("Post ") for h in at.subheader)
    assert any(h.value == "Why the model said this" for h in at.subheader)
    assert charts(at) >= 3  # the stored probabilities, then the explanation's figures
    assert any("could not be scored" in e.label for e in at.expander)

    at.radio(key="br-source").set_value("run").run()  # the run's own predictions, as before
    assert_clean(at)
    assert matching(at) > 0 and "Right?" in at.dataframe[0].value.columns


def test_a_collection_from_the_environment_and_a_folder_that_is_none(app, scored_collection, tmp_path, monkeypatch):
    monkeypatch.setenv("CRISISLENS_COLLECTION", str(scored_collection))
    at = app(BROWSE)
    assert_clean(at)
    assert shown(at) > 0 and "CRISISLENS_COLLECTION" in " ".join(c.value for c in at.sidebar.caption)
    at.sidebar.text_input(key="_w_collection_root").input(str(tmp_path)).run()
    assert not at.exception
    assert any("not a scored collection" in e.value for e in at.error)
    at.radio(key="br-source").set_value("run").run()
    assert_clean(at)
    assert matching(at) > 0


def test_collection_queries_agree_with_the_parts(scored_collection):
    from crisis_dashboard import collection

    found = collection.open_collection(scored_collection)
    rows = pd.concat(pd.read_parquet(p) for p in sorted((scored_collection / "parts").glob("part-*.parquet")))
    connection = collection.connect(collection.build_index(found))
    source = browse.collection_source(connection, found, "humanitarian")
    label = rows["humanitarian_label"].iloc[0]
    query = browse.Filters(labels=[label], confidence=(0.0, 0.9))
    expected = rows[(rows["humanitarian_label"] == label) & (rows["humanitarian_confidence"] <= 0.9)]
    assert browse.count(source, query).matching == len(expected) > 0
    page = browse.page(source, query, "Least confident first", 1, 5)
    assert page.counts.matching == len(expected)
    assert browse.page(source, query, "Least confident first", 999, 5).counts.matching == len(expected)
    want = expected.sort_values(["humanitarian_confidence", "row"]).head(5)
    assert page.rows["row"].tolist() == want["row"].tolist()
    assert page.rows["confidence"].tolist() == pytest.approx(want["humanitarian_confidence"].tolist())
    injected = browse.Filters(query="'; DROP TABLE posts; --")
    assert browse.count(source, injected).matching == 0  # a value, never SQL
    assert browse.count(source, browse.Filters()).matching == len(rows)
    assert collection.errors(found)["kind"].tolist() == ["bad_utf8", "nothing_to_analyse"]


# ------------------------------------------------------------------------------ bad folders


@pytest.mark.parametrize("page", [None, BROWSE, ANALYSE, ATTENTION])
def test_a_run_folder_without_checkpoint(app, tmp_path, monkeypatch, page):
    (tmp_path / "notes.txt").write_text("not a run")
    monkeypatch.setenv("CRISISLENS_RUN", str(tmp_path))
    at = app(page)
    assert not at.exception
    assert any("not a CrisisLens run" in e.value for e in at.error)


def test_the_dashboard_recovers_from_a_bad_run_folder(app, demo_run, tmp_path):
    """An analyst types a wrong run folder in the sidebar, sees why it is wrong, corrects it, and
    the same session analyses posts again; emptying the field returns to $CRISISLENS_RUN."""
    (tmp_path / "notes.txt").write_text("not a run")
    at = app(ANALYSE)
    at.sidebar.text_input(key="_w_run_root").input(str(tmp_path)).run()
    assert not at.exception
    assert any("not a CrisisLens run" in e.value for e in at.error)
    assert not at.text_area  # no form to fill without a model

    at.sidebar.text_input(key="_w_run_root").input(str(demo_run)).run()
    assert_clean(at)
    at.text_area(key="an-text").input("Road closed downtown, power lines down after the hurricane")
    at.button[0].click().run()
    assert_clean(at)
    assert len(answers(at.markdown)) == len(discover_run(demo_run).runs)

    at.sidebar.text_input(key="_w_run_root").input(str(tmp_path)).run()
    assert any("not a CrisisLens run" in e.value for e in at.error)
    at.sidebar.text_input(key="_w_run_root").input("").run()
    assert_clean(at)
    assert f"`{demo_run}`" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("fault", ["truncated", "pickle"])
def test_a_broken_checkpoint_is_named_and_the_other_models_still_answer(app, demo_run, tmp_path, monkeypatch, fault):
    """One model of the run has broken weights: Analyse says which file and what is wrong, the other
    tasks still answer, and the Overview still renders."""
    run = tmp_path / "run"
    shutil.copytree(demo_run, run, ignore=shutil.ignore_patterns("last"))
    weights = run / "informative" / "checkpoint" / "model.safetensors"
    if fault == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:  # a pickle where the weights should be: never unpickled
        import pickle

        weights.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    monkeypatch.setenv("CRISISLENS_RUN", str(run))

    at = app(ANALYSE)
    assert not at.exception
    at.text_area(key="an-text").input("Road closed downtown, power lines down after the hurricane")
    at.button[0].click().run()
    assert not at.exception
    named = literal.inline(str(weights))  # the path as the Markdown of the message spells it
    assert any(named in e.value and "not a readable safetensors file" in e.value for e in at.error)
    assert len(answers(at.markdown)) == len(discover_run(run).runs) - 1

    overview = app()
    assert not overview.exception


def test_a_malformed_split_file_is_named_and_the_pages_still_work(app, demo_run, tmp_path):
    """A CrisisMMD folder one of whose TSV files lacks a column: the Overview names the file, the
    line and the column, shows the other tasks, and the other pages keep working."""
    data = tmp_path / "data"
    shutil.copytree(demo_run.parent / "demo-data", data)
    tsv = data / "crisismmd_datasplit_all" / "task_informative_text_img_dev.tsv"
    rows = [line.split("\t") for line in tsv.read_text(encoding="utf-8").splitlines()]
    drop = rows[0].index("tweet_text")
    tsv.write_text("".join("\t".join(c for j, c in enumerate(r) if j != drop) + "\n" for r in rows), encoding="utf-8")

    at = app(data_root=str(data))
    assert not at.exception
    assert any(str(tsv) in w.value and "line 1" in w.value and "tweet_text" in w.value for w in at.warning)
    assert charts(at) >= 4  # the other tasks' label charts, the model's confusion matrix ...
    browse = app(BROWSE, data_root=str(data))
    assert_clean(browse)


def test_a_folder_that_is_not_crisismmd(app, tmp_path):
    at = app(data_root=str(tmp_path))
    assert not at.exception
    assert any("not a CrisisMMD v2.0 folder" in e.value for e in at.error)
    assert not any("Demo mode" in i.value for i in at.info)


def test_first_start_trains_the_demo_run_with_progress(demo_run, tmp_path, monkeypatch):
    """With no run at the default place, train_demo is called (with a progress callback) and the
    app then shows the run; a later start reuses it."""
    import crisis_model.training as training

    calls = []

    def fake_train_demo(out, progress=None, **kwargs):
        calls.append(Path(out))
        for done in range(3):
            progress(ProgressEvent("epoch", epoch=1, epochs=1, done=done + 1, total=3, run="informative"))
        for task in ("informative", "humanitarian", "damage"):
            shutil.copytree(demo_run / task, Path(out) / task)
        return Path(out)

    monkeypatch.setattr(training, "train_demo", fake_train_demo)
    # the copied runs stand for a finished demo (what counts as up to date: tests/test_train.py)
    monkeypatch.setattr(training.demo, "demo_up_to_date", lambda out, data: demo_run_complete(out))
    monkeypatch.setattr(app_state, "DEFAULT_RUN", tmp_path / "runs" / "demo")
    monkeypatch.delenv("CRISISLENS_RUN", raising=False)
    monkeypatch.delenv("CRISISMMD_ROOT", raising=False)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert calls == [tmp_path / "runs" / "demo"]
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "CrisisLens overview"
    assert len(calls) == 1  # reused


# ------------------------------------------------------------------------------ pure parts


def test_progress_never_moves_back_and_reads_plainly():
    event = ProgressEvent("epoch", epoch=2, epochs=4, done=1, total=2, run="humanitarian", run_index=1, run_count=3)
    assert 1 / 3 < first_start.overall_fraction(event) < 2 / 3
    text = first_start.progress_line(event, 12.0)
    assert "Model 2 of 3 (Humanitarian category)" in text and "round 2 of 4" in text
    assert first_start.overall_fraction(ProgressEvent("eval", done=1)) is None


def test_filters_and_paging():
    frame = normalise_predictions(
        pd.DataFrame(
            {
                "post_id": [f"p{i}" for i in range(10)],
                "event": ["a"] * 5 + ["b"] * 5,
                "split": ["dev", "test"] * 5,
                "text": ["Bridge down"] + ["nothing"] * 9,
                "image_path": [""] * 3 + ["/x.jpg"] * 7,
                "true_label": ["x", "y"] * 5,
                "predicted_label": ["x"] * 10,
                "confidence": np.linspace(0.5, 0.95, 10),
                "text_weight": np.linspace(0, 1, 10),
            }
        )
    )
    assert len(browse.apply_filters(frame, browse.Filters())) == 10
    assert len(browse.apply_filters(frame, browse.Filters(events=["b"]))) == 5
    assert len(browse.apply_filters(frame, browse.Filters(outcome="wrong"))) == 5
    assert len(browse.apply_filters(frame, browse.Filters(photo="without"))) == 3
    assert len(browse.apply_filters(frame, browse.Filters(confidence=(0.9, 1.0)))) == 1
    assert browse.apply_filters(frame, browse.Filters(query="BRIDGE"))["post_id"].tolist() == ["p0"]
    page = browse.page(browse.frame_source(frame), browse.Filters(), "Least confident first", 2, 4)
    assert page.rows["post_id"].tolist() == ["p4", "p5", "p6", "p7"]


def test_a_model_that_decides_from_one_modality_is_flagged():
    def run(words: list[float], photo: list[float]) -> pd.DataFrame:  # falls without words / photo
        return pd.DataFrame({"text_weight": 0.3, "image_weight": 0.3, "reliance_words": words, "reliance_photo": photo})

    # measured by intervention: removing the words barely moves the answers
    photo_only = run([0.0, 0.01, -0.01, 0.005] * 5, [0.3, 0.5, 0.2, 0.4] * 5)
    assert "the words barely count" in widgets.modality_collapse_note(photo_only)
    words_only = run([0.3, 0.5] * 5, [0.0, 0.01] * 5)
    assert "the photo barely count" in widgets.modality_collapse_note(words_only)
    assert widgets.modality_collapse_note(run([0.0, 0.2, 0.4, 0.01] * 5, [0.3, 0.0, 0.1, 0.2] * 5)) is None
    # a run without reliance columns: the gate's weights
    by_weights = pd.DataFrame({"text_weight": [0.01, 0.02] * 5, "image_weight": [0.5, 0.6] * 5})
    assert "the words barely count" in widgets.modality_collapse_note(by_weights)
    assert widgets.modality_collapse_note(pd.DataFrame({"text_weight": [], "image_weight": []})) is None


def test_batch_scoring_notes_a_post_with_nothing_readable_and_scores_the_rest(tmp_path):
    from tests.conftest import tiny_model

    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    upload = b"text,image_path\nBridge collapsed after the flood,\n,broken.jpg\nVolunteers hand out water,\n"
    frame = csv_scoring.read_batch_file(upload, "posts.csv", tmp_path)
    scored = csv_scoring.score_batch(frame, {"informative": tiny_model().eval()})
    assert scored["informative_label"].notna().tolist() == [True, False, True]
    assert scored["note"][1].startswith("nothing to analyse: empty text and an unreadable photo (")


def test_batch_csv_reader_refuses_bad_files():
    with pytest.raises(CrisisLensError, match="no 'text' column"):
        csv_scoring.read_batch_file(b"a,b\n1,2\n", "posts.csv", None)
    with pytest.raises(CrisisLensError, match="not UTF-8"):
        csv_scoring.read_batch_file("text\ncaf\u00e9\n".encode("latin-1"), "posts.csv", None)
    with pytest.raises(CrisisLensError, match="only a header"):
        csv_scoring.read_batch_file(b"text\n", "posts.csv", None)
    assert csv_scoring.read_batch_file(b"text\nhello\n", "posts.csv", None)["text"].tolist() == ["hello"]


def test_explanation_figures_are_labelled():
    words = ["Bridge", "collapsed", "bridge"]
    lift = np.ones((3, 49))
    lift[1, 10] = 20.0
    fig = post_figures.word_region_heatmap(words, lift)
    assert list(fig.layout.yaxis.ticktext) == words  # repeats kept
    assert fig.data[0].zmid == 1.0  # lift over an even spread: 1 is neutral
    overlay = post_figures.region_overlay(Image.new("RGB", (640, 480)), post_figures.region_grid(lift, 1))
    assert overlay.data[1].z.shape == (7, 7) and overlay.data[0].source.startswith("data:image/png")
    assert overlay.data[1].zmin == 1.0  # at or below an even spread, nothing glows
    rows = post_figures.evidence_rows(["text", "text", "image", "joint"])
    assert rows == ["Words 1", "Words 2", "Photo 1", "Words and photo together 1"]
    routing = post_figures.routing_heatmap(np.full((4, 2), 0.5), rows)
    assert list(routing.data[0].y) == rows
    bar = post_figures.modality_bar({"text": 0.3, "image": 0.5, "joint": 0.2})
    assert bar.data[0].x == (0.3, 0.5, 0.2) and bar.data[0].y[2] == "Words and photo together"
    assert len(post_figures.capsule_lengths_bar(np.array([0.1, 0.9]), ["Words 1", "Words 2"]).data[0].y) == 2
    cm = plots.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert cm.data[0].customdata.tolist() == [[1, 1], [0, 1]]
    for key in ("modality", "token_region", "overlay", "routing", "capsule_lengths"):
        assert plots.CAPTIONS[key]
