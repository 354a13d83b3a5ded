"""A page of posts on Browse, and one post of it: the table (a click on a row opens the post), the
post picked from the page, its photo. Shared by Browse's two sources, a run's predictions and a
scored collection (views/browse.py), and by Review."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from PIL import Image

from crisis_dashboard import loaders, widgets
from crisis_dashboard.links import POST, linked, show_in_link
from crisis_dashboard.names import pretty

# Hidden until shown from the table's toolbar (its column menu): the text, the answer, how sure, the
# truth and whether it was right then fit a laptop's screen (1280 px) without scrolling sideways.
DETAIL_COLUMNS = (
    "Words share",
    "Fall without words",
    "Fall without photo",
    "Photo",
    "Event",
    "Split",
    "Post",
    "Posted",
)
DETAILS_CAPTION = (
    "More columns (words share, the falls without words and without photo, photo, event, split, post id) are "
    "in the table's column menu: the eye icon at its top right, shown when the pointer is on the table."
)


def show_table(view: pd.DataFrame, ids: list[str], key: str, post_key: str) -> None:
    """The page's table (`view`, one row per post id in `ids`), its DETAIL_COLUMNS hidden until
    asked for; a click on a row opens that post (the selectbox of `pick_post` under `post_key`)."""

    def pick_row() -> None:
        selected = getattr(getattr(st.session_state.get(key), "selection", None), "rows", None) or []
        if selected:
            st.session_state[post_key] = ids[selected[0]]

    st.dataframe(
        view,
        key=key,
        on_select=pick_row,
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=min(38 * len(view) + 40, 600),
        column_order=[column for column in view.columns if column not in DETAIL_COLUMNS],
        column_config={
            "Post": st.column_config.TextColumn(width="medium"),
            # narrow, then stretched to the room the answers leave: long category names fit at 1280 px
            "Text": st.column_config.TextColumn(width=100),
            # narrow numbers, so the text, the answer and the true label fit a laptop's screen
            "Confidence": st.column_config.ProgressColumn(format="%.2f", min_value=0.0, max_value=1.0, width="small"),
            "Words share": st.column_config.ProgressColumn(
                format="%.2f",
                width="small",
                min_value=0.0,
                max_value=1.0,
                help="The weight of the words' own evidence in the decision (the rest: the photo's, and both together)",
            ),
            "Fall without words": st.column_config.NumberColumn(
                format="%.2f", help="How much the answer's probability falls when the post is scored without its words"
            ),
            "Fall without photo": st.column_config.NumberColumn(
                format="%.2f", help="How much the answer's probability falls when the post is scored without its photo"
            ),
        },
    )


def pick_post(rows: pd.DataFrame, key: str) -> str | None:
    """A selectbox of the page's posts (id and the start of the text); the chosen post id or None,
    kept in the address (?post=). The first time, the post the address names opens; a choice that
    is no longer on the page is cleared."""
    ids = rows["post_id"].tolist()
    if key not in st.session_state and linked(POST) in ids:
        st.session_state[key] = linked(POST)
    if st.session_state.get(key) not in ids:
        st.session_state[key] = None
    snippets = dict(zip(rows["post_id"], rows["text"].str.slice(0, 70)))
    chosen = st.selectbox(
        "Open a post",
        [None] + ids,
        key=key,
        placeholder="choose a post of this page",
        format_func=lambda p: "—" if p is None else f"{p} · {snippets.get(p, '')}",
    )
    show_in_link(POST, chosen)
    return chosen


def show_photo(image: Image.Image | None, error: str | None, none: str) -> None:
    """The post's photo, why it cannot be shown, or `none` (the post has no photo)."""
    if image is not None:
        st.image(image, caption="The post's photo", width="stretch")
    elif error:
        st.warning(f"The photo cannot be shown: {error}")
    else:
        st.info(none)


def show_post(row: pd.Series, no_photo: str):
    """A post of a run's table under its heading: the photo left; its text, event and split right.
    Returns the photo (None without one) and the right column, for what the page adds there."""
    st.divider()
    st.subheader(f"Post {row['post_id']}")
    image, image_error = loaders.open_image(row["image_path"])
    left, right = st.columns([2, 3])
    with left:
        show_photo(image, image_error, no_photo)
    with right:
        widgets.post_text(row["text"])
        st.markdown(f"**Event:** {pretty(row['event'])} · **Split:** {row['split']}")
    return image, right
