"""One tweet's text in a normal form, so that retweets and copies of a post are seen as one text.

Two posts are the same text when they differ only in links (t.co links are random per tweet),
@mentions, "RT" markers, case and spacing. Training uses it so that no text is trained on and
evaluated on: a train post whose normal form is also a dev or test post's is dropped, and a posts
file is split with every group of one normal form on the same side.
"""

from __future__ import annotations

import re

import pandas as pd

_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION = re.compile(r"@\w+")
_RETWEET = re.compile(r"(?<!\S)rt(?=[\s:]|$)")  # "rt" as a word of its own
_LEADING = re.compile(r"^[\s:]+")  # what "RT @user:" leaves behind


def normalise_text(text: str) -> str:
    """The text lower-cased, without links, @mentions or "RT" markers, single-spaced."""
    text = _MENTION.sub(" ", _URL.sub(" ", str(text).lower()))
    return " ".join(_LEADING.sub("", _RETWEET.sub(" ", text)).split())


def leaked_train_posts(frame: pd.DataFrame) -> pd.Series:
    """True at the train posts whose normal form (when not empty) is the text of a dev or test post."""
    normal = frame["text"].map(normalise_text)
    held_out = set(normal[frame["split"].isin(["dev", "test"])]) - {""}
    return (frame["split"] == "train") & normal.isin(held_out)


def text_groups(frame: pd.DataFrame) -> pd.Series:
    """A group per normal form of the text; a post whose normal form is empty (a link alone, a
    photo alone) is grouped with its own tweet only."""
    normal = frame["text"].map(normalise_text)
    return normal.where(normal != "", "tweet:" + frame["tweet_id"].astype(str))
