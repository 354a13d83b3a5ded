"""The CrisisMMD loader (on small hand-written folders, and on the real data when present)
and the loader of a user's posts files."""

import json

import pytest
from PIL import Image

from crisis_model.data import (
    COLUMNS,
    TASKS,
    MissingImagesWarning,
    dataset_summary,
    load_crisismmd,
    load_posts_file,
    normalise_text,
)
from crisis_model.errors import DataError

PAIR_HEADER = [
    "event_name", "tweet_id", "image_id", "tweet_text", "image",
    "label", "label_text", "label_image", "label_text_image",
]  # fmt: skip


def pair(tweet_id, k=0, text="Roads flooded", label_text="informative", label_image="informative", label=None):
    """One row of a split file of the informative or humanitarian task."""
    agree = "Positive" if label_text == label_image else "Negative"
    image = f"data_image/test_event/1_9_2017/{tweet_id}_{k}.jpg"
    label = label or label_image
    return ["test_event", tweet_id, f"{tweet_id}_{k}", text, image, label, label_text, label_image, agree]


def write_split(
    root, rows, task="informative", split="train", header=PAIR_HEADER,
    folder="crisismmd_datasplit_all", newline="\n", bom=False,
):  # fmt: skip
    path = root / folder / f"task_{task}_text_img_{split}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode("utf-8"))
    return path


def load_quietly(*args, **kwargs):
    with pytest.warns(MissingImagesWarning):
        return load_crisismmd(*args, **kwargs)


@pytest.fixture
def small(tmp_path):
    """Four pairs, three of them with agreeing labels."""
    write_split(
        tmp_path,
        [
            pair("1", 0, label_text="informative", label_image="informative"),
            pair("1", 1, label_text="informative", label_image="not_informative", label="informative"),
            pair("2", 0, label_text="not_informative", label_image="not_informative"),
        ],
    )
    write_split(tmp_path, [pair("3", 0, label_text="informative", label_image="informative")], split="dev")
    return tmp_path


def test_columns_splits_and_label_sources(small):
    agreed = load_quietly(small, "informative")
    assert list(agreed.columns) == COLUMNS
    assert agreed["post_id"].tolist() == ["1_0", "2_0", "3_0"]
    assert agreed["split"].tolist() == ["train", "train", "dev"]
    assert agreed.iloc[0].to_dict() == {
        "post_id": "1_0",
        "tweet_id": "1",
        "event": "test_event",
        "split": "train",
        "text": "Roads flooded",
        "image_path": "",
        "label": "informative",
    }
    # `label` of a disagreeing pair is ignored: the explicit columns are used
    assert load_quietly(small, "informative", "image")["label"].tolist()[:2] == ["informative", "not_informative"]
    assert len(load_quietly(small, "informative", "text")) == 4
    assert load_quietly(small, "informative", splits=["dev"])["post_id"].tolist() == ["3_0"]


def test_missing_images_warn_once_and_existing_ones_get_absolute_paths(small):
    present = small / "data_image/test_event/1_9_2017/2_0.jpg"
    present.parent.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(present)
    with pytest.warns(MissingImagesWarning) as caught:
        frame = load_crisismmd(small, "informative", "text")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("3 of 4 posts have no image file")
    assert "1_0.jpg" in message and "1_1.jpg" in message and "3_0.jpg" in message
    assert frame.attrs["missing_images"] == 3
    assert frame.set_index("post_id")["image_path"].to_dict() == {
        "1_0": "",
        "1_1": "",
        "2_0": str(present.resolve()),
        "3_0": "",
    }


def test_text_is_kept_exactly_with_quotes_mojibake_bom_and_crlf(tmp_path):
    texts = ['He said "run" now', '"quoted at the start', "Weâ€™re fine", "tab-free; semi;colons, commas"]
    write_split(tmp_path, [pair(str(i), text=t) for i, t in enumerate(texts)], newline="\r\n", bom=True)
    frame = load_quietly(tmp_path, "informative")
    assert frame["text"].tolist() == texts
    assert set(frame["label"]) == {"informative"}


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([pair("1")], PAIR_HEADER[:-2] + PAIR_HEADER[-1:], r"train\.tsv: line 1: missing column\(s\) label_image"),
        (
            [pair("1"), pair("2")[:3] + ["a\ttab"] + pair("2")[4:]],
            PAIR_HEADER,
            r"train\.tsv: line 3: 10 tab-separated fields",
        ),
        ([pair("1")[:-1]], PAIR_HEADER, r"train\.tsv: line 2: 8 tab-separated fields"),
        (
            [pair("1", label_text="informatve")],
            PAIR_HEADER,
            r"train\.tsv: line 2: unknown informative label 'informatve'",
        ),
    ],
)
def test_malformed_split_files_name_the_file_and_line(tmp_path, rows, header, message):
    write_split(tmp_path, rows, header=header)
    with pytest.raises(DataError, match=message):
        load_crisismmd(tmp_path, "informative", "agreed")


def test_empty_and_non_utf8_files(tmp_path):
    path = write_split(tmp_path, [])
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"train\.tsv: empty file"):
        load_crisismmd(tmp_path, "informative")
    lines = ["\t".join(PAIR_HEADER), "\t".join(pair("1"))]
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\n")
    with pytest.raises(DataError, match=r"train\.tsv: line 3: not UTF-8"):
        load_crisismmd(tmp_path, "informative")


def test_bad_names_and_layouts(tmp_path, small):
    with pytest.raises(DataError, match="unknown task 'damages'; valid tasks: informative, humanitarian, damage"):
        load_crisismmd(small, "damages")
    with pytest.raises(DataError, match="no 'agree' labels; valid label sources: text, image, agreed"):
        load_crisismmd(small, "informative", "agree")
    with pytest.raises(DataError, match="task 'damage' has no 'text' labels; valid label sources: image, agreed"):
        load_crisismmd(small, "damage", "text")
    with pytest.raises(DataError, match="unknown split"):
        load_crisismmd(small, "informative", splits=["validation"])
    with pytest.raises(DataError, match=r"no test split for task informative: expected .*_img_test\.tsv"):
        load_crisismmd(small, "informative", splits=["test"])
    with pytest.raises(DataError, match="no such folder"):
        load_crisismmd(tmp_path / "nowhere", "informative")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no crisismmd_datasplit_all/task_informative_text_img_<split>.tsv files"):
        load_crisismmd(empty, "informative")


def test_agreed_label_folder_is_used_when_present(small):
    header = PAIR_HEADER[:6]
    write_split(small, [pair("9")[:6], pair("8")[:6]], header=header, folder="crisismmd_datasplit_agreed_label")
    assert load_quietly(small, "informative", "agreed")["post_id"].tolist() == ["9_0", "8_0"]
    assert len(load_quietly(small, "informative", "text")) == 4  # the agreed folder is for "agreed" only


def test_humanitarian_labels_are_merged_and_damage_uses_image_labels(tmp_path):
    rows = [
        pair("1", label_text="injured_or_dead_people", label_image="missing_or_found_people"),
        pair("2", label_text="vehicle_damage", label_image="infrastructure_and_utility_damage"),
        pair("3", label_text="not_humanitarian", label_image="other_relevant_information"),
    ]
    write_split(tmp_path, rows, task="humanitarian")
    frame = load_quietly(tmp_path, "humanitarian")
    assert frame["label"].tolist() == ["affected_individuals", "infrastructure_and_utility_damage"]

    damage = [
        ["e", "4", "4_0", "text", "data_image/e/4_0.jpg", "severe_damage"],
        ["e", "5", "5_0", "t", "x.jpg", "mild_damage"],
    ]
    write_split(tmp_path, damage, task="damage", header=PAIR_HEADER[:6])
    for labels in ("agreed", "image"):
        assert load_quietly(tmp_path, "damage", labels)["label"].tolist() == ["severe_damage", "mild_damage"]


def test_image_paths_in_a_split_file_must_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    row = pair("1")
    row[4] = "../outside.jpg"
    Image.new("RGB", (2, 2)).save(tmp_path / "outside.jpg")
    write_split(root, [row])
    with pytest.raises(DataError, match=r"train\.tsv: line 2: image '\.\./outside\.jpg' refused"):
        load_crisismmd(root, "informative")


def test_duplicate_post_ids_are_refused(tmp_path):
    write_split(tmp_path, [pair("1"), pair("1")])
    with pytest.raises(DataError, match=r"train\.tsv: line 3: post_id '1_0' appears twice"):
        load_quietly(tmp_path, "informative")


def test_dataset_summary(small):
    summary = dataset_summary(load_quietly(small, "informative", "text"))
    assert summary["posts"] == 4 and summary["with_image"] == 0 and summary["without_image"] == 4
    assert summary["events"] == {"test_event": 4}
    assert summary["labels"] == {"informative": 3, "not_informative": 1}
    assert summary["splits"]["dev"] == {
        "posts": 1,
        "with_image": 0,
        "without_image": 1,
        "events": {"test_event": 1},
        "labels": {"informative": 1},
    }
    json.dumps(summary)  # plain Python types, ready for the dashboard


# ------------------------------------------------------------------------------ posts files


def test_normalise_text_folds_retweets_links_mentions_case_and_spacing():
    original = "Bridge on Route 9 COLLAPSED https://t.co/abc123 @CityOfHouston"
    retweet = "RT @news_bot: bridge on route 9   collapsed https://t.co/zzz999 www.example.org/x"
    assert normalise_text(original) == normalise_text(retweet) == "bridge on route 9 collapsed"
    assert normalise_text("Start your art: RT-ready") == "start your art: rt-ready"  # 'rt' in words stays
    assert normalise_text("RT @a: https://t.co/x @b") == ""
    assert normalise_text("Flood rising") != normalise_text("Flood rising fast")


def test_posts_csv_with_images_quotes_and_defaults(tmp_path):
    Image.new("RGB", (3, 3)).save(tmp_path / "a.png")
    (tmp_path / "posts.csv").write_text(
        'text,image_path,label\n"Bridge down, help needed",a.png,informative\n"Two\nlines ""quoted""",,\n',
        encoding="utf-8",
    )
    frame = load_posts_file(tmp_path / "posts.csv")
    assert list(frame.columns) == COLUMNS
    assert frame["text"].tolist() == ["Bridge down, help needed", 'Two\nlines "quoted"']
    assert frame["image_path"].tolist() == [str((tmp_path / "a.png").resolve()), ""]
    assert frame["label"].tolist() == ["informative", ""]
    assert frame["post_id"].tolist() == ["1", "2"]
    assert set(frame["split"]) == set(frame["event"]) == {"user"}
    assert frame.attrs["missing_images"] == 0


def test_posts_jsonl_with_ids_and_a_missing_image(tmp_path):
    lines = [
        {"text": "Water rising", "post_id": "p1", "event": "flood", "split": "test", "image_path": "gone.jpg"},
        {"text": "All good", "post_id": 7, "label": None},
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    with pytest.warns(MissingImagesWarning, match="1 of 2 posts have no image file.*gone.jpg"):
        frame = load_posts_file(path)
    assert frame["post_id"].tolist() == ["p1", "7"]
    assert frame["event"].tolist() == ["flood", "user"]
    assert frame["split"].tolist() == ["test", "user"]
    assert frame["image_path"].tolist() == ["", ""]
    assert frame.attrs["missing_images"] == 1


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("posts.csv", "body,label\nhello,informative\n", r"posts\.csv: line 1: no 'text' column"),
        ("posts.csv", "text,label\nhello,informative,extra\n", r"posts\.csv: line 2: 3 fields where the header has 2"),
        ("posts.csv", "", r"posts\.csv: empty file"),
        ("posts.csv", "\ufefftext,label\n", r"posts\.csv: no posts"),
        ("posts.csv", "text,image_path\n,\n", r"posts\.csv: line 2: the post has neither text nor an image_path"),
        ("posts.jsonl", '{"text": "a"}\n{"body": "b"}\n', r"posts\.jsonl: line 2: no 'text' field"),
        ("posts.jsonl", '{"text": "a"}\n{"text": \n', r"posts\.jsonl: line 2: not valid JSON"),
        ("posts.jsonl", '["text"]\n', r"posts\.jsonl: line 1: expected a JSON object"),
        ("posts.txt", "text\nhello\n", r"posts\.txt: unsupported posts file type '\.txt'"),
        ("posts.csv", "text,image_path\nhi,../secret.png\n", r"posts\.csv: line 2: image '\.\./secret\.png' refused"),
    ],
)
def test_malformed_posts_files(tmp_path, name, content, message):
    folder = tmp_path / "upload"
    folder.mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "secret.png")
    (folder / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_posts_file(folder / name)


def test_absolute_image_paths_outside_the_posts_folder_are_refused(tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "secret.png")
    (folder / "posts.jsonl").write_text(json.dumps({"text": "x", "image_path": str(tmp_path / "secret.png")}))
    with pytest.raises(DataError, match=r"posts\.jsonl: line 1: image .*secret\.png' refused"):
        load_posts_file(folder / "posts.jsonl")


# --------------------------------------------------------------------------- the real data


def split_sizes(frame):
    return frame.groupby("split").size().to_dict()


def test_real_informative_counts(crisismmd_root):
    agreed = load_quietly(crisismmd_root, "informative", "agreed")
    assert split_sizes(agreed) == {"train": 9_601, "dev": 1_573}
    for labels in ("text", "image"):
        with pytest.warns(MissingImagesWarning, match=r"^15,845 of 15,845 posts have no image file"):
            frame = load_crisismmd(crisismmd_root, "informative", labels)
        assert split_sizes(frame) == {"train": 13_608, "dev": 2_237}
        assert frame.attrs["missing_images"] == 15_845
    assert set(agreed["label"]) == set(TASKS["informative"].label_names)
    assert agreed["post_id"].is_unique and (agreed["image_path"] == "").all()
    assert agreed["text"].str.contains("â€™").any() and agreed["text"].str.contains('"').any()


def test_real_humanitarian_and_damage_are_derived_from_the_annotations(crisismmd_root):
    humanitarian = load_quietly(crisismmd_root, "humanitarian", "agreed")
    assert split_sizes(humanitarian) == {"train": 6_249, "dev": 1_003}
    assert set(humanitarian["label"]) == set(TASKS["humanitarian"].label_names)
    assert split_sizes(load_quietly(crisismmd_root, "humanitarian", "text")) == {"train": 13_608, "dev": 2_237}
    damage = load_quietly(crisismmd_root, "damage", "agreed")
    assert split_sizes(damage) == {"train": 2_646, "dev": 435}
    assert set(damage["label"]) == set(TASKS["damage"].label_names)
