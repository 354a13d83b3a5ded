"""A post's text, and what a visitor types or uploads, shown as written: never as Markdown, maths, HTML
or a link, on the pages (widgets.post_text, crisis_dashboard.literal.inline) and in chart labels
(literal.chart_label)."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from crisis_dashboard import literal, post_figures

HOSTILE_CASES = [
    "**bold** and _italic_ and ~~struck~~",
    "[click](javascript:alert(1))",
    "[a link](https://evil.example)",
    "![a picture](https://evil.example/x.png)",
    "<b>bold tag</b> <script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<a href='https://evil.example'>here</a>",
    "$x^2$ and $$\\int f$$",
    "price $5 to $10",
    "# a heading",
    "> a quote",
    "- a list item",
    "1. a numbered item",
    "`code` and ```fence```",
    "| a | table |",
    "line one\nline two",
    "back\\slash \\* escaped",
    "&amp; &lt; &#x27; entities",
    "https://evil.example bare link",
    ":material/warning: an icon",
    ":red[coloured] :blue-background[text]",
    "trailing two spaces  \nbreak",
    "***",
    "_",
]


def rendered_text(markdown: str) -> tuple[str, set[str]]:
    """What CommonMark makes of `markdown`: its visible text and the HTML tags it creates."""
    rendered = MarkdownIt("commonmark").render(markdown)
    tags = set(re.findall(r"<(\w+)", rendered))
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip(), tags


@pytest.mark.parametrize("text", HOSTILE_CASES)
def test_inline_shows_every_character_as_itself(text) -> None:
    shown, tags = rendered_text(literal.inline(text))
    assert shown == " ".join(text.split())
    assert tags <= {"p"}
    assert not re.search(r"(?<!\\)[$:]", literal.inline(text))  # no maths, no :icon: or :colour[...]


@pytest.mark.parametrize("text", HOSTILE_CASES)
def test_a_chart_label_shows_tags_as_text(text) -> None:
    label = literal.chart_label(text)
    assert "<" not in label and ">" not in label
    assert html.unescape(label) == text


def test_the_word_charts_label_the_words_literally() -> None:
    words = ["<b>bold</b>", "<a href='x'>link</a>", "&amp;", "plain"]
    lift = np.ones((len(words), 49))
    heatmap = post_figures.word_region_heatmap(words, lift)
    assert list(heatmap.layout.yaxis.ticktext) == [literal.chart_label(w) for w in words]
    assert {str(cell) for cell in heatmap.data[0].customdata[:, 0, 0]} == {literal.chart_label(w) for w in words}
    bar = post_figures.image_to_words_bar(words, np.full((49, len(words)), 0.25))
    assert set(bar.data[0].y) == {literal.chart_label(w) for w in words}


def _show_posts() -> None:
    from crisis_dashboard import widgets
    from tests.test_hostile_text import HOSTILE_CASES

    for text in HOSTILE_CASES:
        widgets.post_text(text)


def test_a_posts_text_is_drawn_as_plain_text_never_as_markdown() -> None:
    at = AppTest.from_function(_show_posts, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.text] == HOSTILE_CASES
    assert not at.markdown
