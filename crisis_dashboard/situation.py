"""The crisis over time: how many posts of each predicted category came in per hour or day, and
the share the informative model calls informative, as a table, a Plotly figure and a sentence.

Times come from crisis_model.data.timeline (created_at, else the tweet id's snowflake)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from crisis_dashboard.figures import layout
from crisis_dashboard.names import pretty
from crisis_model.data.timeline import bucket_size, post_times

ALL_EVENTS = ""  # the event choice that keeps every event
SHARE_COLOR = "#111111"
BUCKET_WORDS = {"h": "hour", "D": "day"}


@dataclass
class Timeline:
    counts: pd.DataFrame  # bucket start (UTC) x predicted label: posts
    share: pd.Series  # bucket start -> informative share (NaN where no informative answer), may be empty
    bucket: str  # "h" or "D"
    undated: int  # posts without a time (no created_at, no snowflake id)


def of_event(frame: pd.DataFrame, event: str) -> pd.DataFrame:
    return frame if event == ALL_EVENTS else frame[frame["event"] == event]


def timeline(predictions: pd.DataFrame, informative: pd.DataFrame | None, event: str = ALL_EVENTS) -> Timeline:
    """Posts per bucket and predicted label for `event`; with the informative run's predictions,
    the share of its posts answered informative in each bucket."""
    posts = of_event(predictions, event)
    times = post_times(posts)
    dated = posts.assign(time=times)[times.notna()]
    if dated.empty:
        return Timeline(pd.DataFrame(), pd.Series(dtype=float), "D", len(posts))
    bucket = bucket_size(dated["time"].min(), dated["time"].max())
    # naive UTC bucket starts: Plotly draws them as given, not shifted to the browser's zone
    starts = dated["time"].dt.floor(bucket).dt.tz_localize(None)
    counts = dated.groupby([starts, "predicted_label"]).size().unstack(fill_value=0)
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=bucket)
    counts = counts.reindex(full, fill_value=0)  # a quiet hour is a zero, not a gap
    counts = counts[counts.sum().sort_values(ascending=False).index]  # the commonest at the bottom
    share = pd.Series(dtype=float)
    if informative is not None:
        said = of_event(informative, event)
        said_times = post_times(said)
        said = said[said_times.notna()]
        said_starts = said_times[said_times.notna()].dt.floor(bucket).dt.tz_localize(None)
        share = (said["predicted_label"] == "informative").groupby(said_starts).mean().reindex(full)
    return Timeline(counts, share, bucket, len(posts) - len(dated))


def figure(line: Timeline, title: str) -> go.Figure:
    """Stacked bars of posts per category per bucket; the informative share as a line on its own axis."""
    fig = go.Figure()
    for label in line.counts.columns:
        fig.add_bar(x=line.counts.index, y=line.counts[label], name=pretty(label))
    if line.share.notna().any():
        fig.add_scatter(
            x=line.share.index,
            y=line.share.values,
            name="Informative share",
            yaxis="y2",
            mode="lines+markers",
            line=dict(color=SHARE_COLOR, width=2),
            connectgaps=False,
        )
    word = BUCKET_WORDS[line.bucket]
    fig.update_layout(
        title=title,
        barmode="stack",
        bargap=0.1,
        xaxis=dict(title=f"{word.capitalize()} (UTC)"),
        yaxis=dict(title=f"Posts per {word}"),
        yaxis2=dict(title="Informative share", overlaying="y", side="right", showgrid=False),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
    )
    fig.update_yaxes(range=[0, 1], dtick=0.25, tickformat=".0%", selector=dict(overlaying="y"))
    return layout(fig, 460).update_layout(margin=dict(l=60, r=60, t=50, b=10))  # room for both axis titles


def caption(line: Timeline, event: str) -> str:
    """The figure in plain words: the span, the busiest bucket and what it was mostly about, how
    the informative share moved."""
    word = BUCKET_WORDS[line.bucket]
    totals = line.counts.sum(axis=1)
    start, end = totals.index.min(), totals.index.max()
    where = pretty(event) if event != ALL_EVENTS else "all events"
    busiest = totals.idxmax()
    top = line.counts.loc[busiest].idxmax()
    fmt = "%d %b %Y %H:00" if line.bucket == "h" else "%d %b %Y"
    parts = [
        f"{int(totals.sum()):,} posts of {where} from {start.strftime(fmt)} to {end.strftime(fmt)} (UTC), "
        f"one bar per {word}, coloured by the model's answer.",
        f"The busiest {word} was {busiest.strftime(fmt)}, with {int(totals[busiest]):,} posts, "
        f"most of them {pretty(top).lower()}.",
    ]
    share = line.share.dropna()
    if len(share) >= 2:
        parts.append(
            f"The black line is the share the informative model calls informative: {share.iloc[0]:.0%} in the "
            f"first {word} with posts, {share.iloc[-1]:.0%} in the last (right-hand axis)."
        )
    if line.undated:
        parts.append(f"{line.undated:,} posts have no time (no created_at, no tweet id holding one) and are left out.")
    return " ".join(parts)
