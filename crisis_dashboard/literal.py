"""What a post or a visitor wrote, shown as written: never read as Markdown, maths, HTML or a link.

Streamlit reads Markdown (and `$...$` as maths) in st.markdown, captions, alerts and labels, and
Plotly reads a few HTML tags (`<b>`, `<a href>` ...) in chart labels. A post's text, an uploaded
file's name or an error message quoting either goes through here on its way to the page (no
Streamlit here: the charts use it too; a post's text in a frame of its own is widgets.post_text).
"""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")  # CommonMark escapes any of them


def inline(text: str) -> str:
    """`text` escaped for a Markdown string (an alert, a caption): every character shows as itself,
    on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def chart_label(text: str) -> str:
    """`text` for a Plotly label or hover text: its `<`, `>` and `&` shown, not read as tags."""
    return html.escape(str(text), quote=False)
