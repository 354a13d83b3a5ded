"""The dashboard's figures of a dataset and a run, as pure functions returning Plotly figures, and
what every figure shares: colours, layout, and `CAPTIONS`, the one-line "how to read it" shown
under each (one post's figures are in post_figures.py).

Nothing here imports Streamlit: each function takes plain data (dicts, numpy arrays, pandas
frames) and returns a `plotly.graph_objects.Figure`, so the figures can be tested and reused in
notebooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crisis_dashboard.names import pretty

TEXT_COLOR = "#1f77b4"
IMAGE_COLOR = "#ff7f0e"
RIGHT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
# The three evidence groups whose votes the gate weighs (crisis_model.model.fusion).
GROUP_NAMES = {"text": "Words", "image": "Photo", "joint": "Words and photo together"}
GROUP_COLORS = {"text": TEXT_COLOR, "image": IMAGE_COLOR, "joint": "#8c564b"}
FONT = dict(size=13)

CAPTIONS = {
    "probabilities": "How sure the model is about each category; the longest bar is its answer.",
    "modality": "The words, the photo and the two read together each give their own answer; these bars are each "
    "one's share of the final answer (its weighted mean), adding up to 100 %. The joint answer reads both, so the "
    "shares alone do not say whether the answer needs the words or the photo: the test below does, in points.",
    "reliance_by_group": "Measured, not inferred: each post scored again without its words, and without its photo; "
    "the bars are how far the chance of its answer fell, on average. The higher bar is what the answers need.",
    "votes": "The words alone, the photo alone and the two read together each give their own answer (coloured "
    "bars); the final answer (grey) is their mean, weighted by how much each counted (in the legend).",
    "capsules_explained": "For the technically minded: inside each part, the model condenses its evidence into "
    "small summaries (“capsules”) and sends each piece of evidence to the summaries it agrees with "
    "(“routing”). These charts show that plumbing; the chart above says what it amounts to.",
    "capsule_lengths": "How strongly each combined summary speaks (0 to 1): long bars are the summaries the "
    "classifier read most; the name says which part of the evidence it belongs to.",
    "token_region": "Rows are the post's words, columns the photo's 7 x 7 grid of squares, row by row; white is an "
    "even spread (1 ×: the word looked at that square as much as at any other), red more, blue less.",
    "overlay": "The photo as the model saw it (centre crop), with the chosen words' attention on its 7 x 7 grid: "
    "squares glow where the words looked more than at an even spread.",
    "image_to_words": "The share of the photo's attention each word received, averaged over the photo's squares.",
    "mattered": "Tested by hiding each of the photo's 49 squares in turn (replaced by the photo's average): "
    "the redder a square, the more points the probability of the answer falls without it.",
    "attention_caveat": "Attention is where the model's reading of the words and the photo looked, not what "
    "decided the answer: on the demo models, the squares the words look at hardly ever are the squares that "
    "matter when hidden. Read it as a description of the reading, not as the reason.",
    "routing": "Each row is a piece of evidence from the words, the photo or the two read together, each column a "
    "combined summary; a row's shares add up to 1, so a dark cell is where that evidence went.",
    "posts_per_event": "Number of posts per crisis event, split by whether the post came with a usable photo.",
    "labels": "How many posts carry each label in this task (all splits together).",
    "images": "Posts with a photo the model can use, and posts analysed from their text only.",
    "confusion": "Rows are the true labels, columns what the model said; the diagonal is right, "
    "everything else is a mistake (each cell shows the count and the share of its row).",
    "ablation": "The same task trained with simpler ways of combining text and photo; higher is better.",
    "history": "Training progress per epoch: the loss should fall and the dev score should rise.",
    "modality_by_group": "How much each part's vote counted in the answer, on average, for posts with a photo "
    "(the number of posts in brackets); the parts add up to 100 %. The joint vote reads both words and photo.",
    "routing_by_class": "For the posts the model put in each category, where their evidence went on average (rows: "
    "pieces of evidence, columns: combined summaries); differing patterns mean the categories are decided from "
    "different evidence.",
    "confidence_vs_text": "Each dot is a post: how sure the model was against how much the words' own vote counted; "
    "red dots are mistakes.",
}


def wrap(text: str, width: int = 22) -> str:
    """Breaks a long axis label into lines (Plotly's <br>) at spaces."""
    lines, line = [], ""
    for word in str(text).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join(lines + [line])


def layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT, template="plotly_white", **kwargs)
    return fig


def legend_on_top(fig: go.Figure, lines: int = 1) -> go.Figure:
    """The legend between the title and the plot, with room for `lines` lines of it (a legend too
    wide for a narrow column takes one line per entry). Below the plot it ran into the axis'
    labels and title, which take more lines as names wrap (a narrow column, long category names)."""
    fig.update_layout(
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=10)),
        margin=dict(t=55 + 22 * lines),
    )
    return fig


def posts_per_event(df: pd.DataFrame, title: str = "Posts per event") -> go.Figure:
    """Bars per event, stacked: with a usable photo / text only. Needs event and image_path."""
    has_image = df["image_path"].fillna("").astype(str) != ""
    table = pd.crosstab(df["event"], has_image).reindex(columns=[True, False], fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
    names = [wrap(pretty(e), 12) for e in table.index]
    fig = go.Figure(
        [
            go.Bar(x=names, y=table[True], name="with a photo", marker_color=IMAGE_COLOR),
            go.Bar(x=names, y=table[False], name="text only", marker_color=TEXT_COLOR),
        ]
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickangle=0)
    fig.update_yaxes(title="posts")
    return legend_on_top(layout(fig, 360, title=title))


def label_distribution(counts: Mapping[str, int], title: str) -> go.Figure:
    labels = sorted(counts, key=lambda k: -counts[k])
    total = max(sum(counts.values()), 1)
    fig = go.Figure(
        go.Bar(
            x=[counts[k] for k in labels],
            y=[wrap(pretty(k), 18) for k in labels],
            orientation="h",
            marker_color="#4c78a8",
            text=[f"{counts[k]:,} ({counts[k] / total:.0%})" for k in labels],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} posts<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="posts", range=[0, max(counts.values(), default=1) * 1.45])
    return layout(fig, 100 + 48 * max(len(labels), 1), title=title)


def image_presence(with_image: int, without_image: int, title: str = "Posts with and without a photo") -> go.Figure:
    slices = [(name, n, color) for name, n, color in (("with a photo", with_image, IMAGE_COLOR),
              ("text only", without_image, TEXT_COLOR)) if n]  # fmt: skip  # no empty 0 % slice
    fig = go.Figure(
        go.Pie(
            labels=[name for name, _, _ in slices],
            values=[n for _, n, _ in slices],
            hole=0.5,
            marker_colors=[color for _, _, color in slices],
            sort=False,
            hovertemplate="%{label}: %{value:,} posts (%{percent})<extra></extra>",
        )
    )
    return layout(fig, 320, title=title)


def confusion_matrix(
    true: Sequence[str], predicted: Sequence[str], labels: Sequence[str], title: str = "Confusion matrix"
) -> go.Figure:
    """Counts of (true, predicted), coloured by the share of each true label's row."""
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(true, predicted):
        if t in index and p in index:
            counts[index[t], index[p]] += 1
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    text = [[f"{counts[i, j]:,}<br>{shares[i, j]:.0%}" for j in range(len(labels))] for i in range(len(labels))]
    names = [wrap(pretty(label), 16) for label in labels]
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=names,
            y=names,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=text,
            texttemplate="%{text}",
            customdata=counts,
            colorbar=dict(title="row share", thickness=12, tickformat=".0%"),
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata:,} posts (%{z:.0%} of the row)<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="true label")
    fig.update_xaxes(title="predicted label", tickangle=0)  # wrapped names, level: slanted, they ran together
    return layout(fig, 160 + 70 * len(labels), title=title)


def ablation_bars(
    table: pd.DataFrame,
    variant_column: str,
    metrics: Sequence[str],
    highlight: str | None = None,
    title: str = "Ways of combining text and photo",
) -> go.Figure:
    fig = go.Figure()
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    variants = [str(v) for v in table[variant_column]]
    # this model's variant is named under its bars: a note above them ran into the legend
    names = [f"{v}<br>(this model)" if highlight is not None and v == str(highlight) else v for v in variants]
    for k, metric in enumerate(metrics):
        fig.add_trace(
            go.Bar(
                x=names,
                y=table[metric],
                name=pretty(metric.removesuffix("_mean")),
                marker_color=palette[k % len(palette)],
                text=[f"{v:.3f}" if pd.notna(v) else "" for v in table[metric]],
                textposition="auto",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="fusion variant")
    fig.update_yaxes(title="score")
    return legend_on_top(layout(fig, 380, title=title))


def training_history(history: pd.DataFrame, title: str = "Training history") -> go.Figure:
    """Loss and the dev metrics per epoch, on two axes."""
    x = history["epoch"] if "epoch" in history else pd.Series(range(1, len(history) + 1))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    loss_columns = [c for c in history.columns if "loss" in c]
    dev_columns = [
        c
        for c in history.columns
        if c.startswith("dev") and "loss" not in c and pd.api.types.is_numeric_dtype(history[c])
    ][:3]
    for column in loss_columns:
        fig.add_trace(go.Scatter(x=x, y=history[column], name=pretty(column), mode="lines+markers"), secondary_y=False)
    for column in dev_columns:
        fig.add_trace(
            go.Scatter(x=x, y=history[column], name=pretty(column), mode="lines+markers", line=dict(dash="dot")),
            secondary_y=True,
        )
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="loss", secondary_y=False)
    # scores lie in 0..1: round ticks of their own, not ones lined up with the loss axis' grid (0.374, 0.638 ...)
    fig.update_yaxes(title="dev score", range=[0, 1.02], tickmode="linear", tick0=0, dtick=0.2, tickformat=".1f",
                     showgrid=False, secondary_y=True)  # fmt: skip
    return legend_on_top(layout(fig, 380, title=title))


def modality_by_group(df: pd.DataFrame, group_column: str, title: str) -> go.Figure:
    """Per value of `group_column`, the mean weight of each evidence group's vote, stacked to 1
    (posts with a photo only; a weights column missing from older tables is left out)."""
    groups = [g for g in GROUP_NAMES if f"{g}_weight" in df.columns]
    means = df.groupby(group_column)[[f"{g}_weight" for g in groups]].mean().sort_index(key=lambda i: i.astype(str))
    counts = df.groupby(group_column).size().reindex(means.index)
    slanted = len(means) > 3  # more names than half the page holds side by side
    names = [wrap(f"{pretty(v)} ({counts[v]:,})", 22 if slanted else 14) for v in means.index]
    fig = go.Figure(
        [
            go.Bar(
                x=names,
                y=means[f"{g}_weight"],
                name=GROUP_NAMES[g],
                marker_color=GROUP_COLORS[g],
                hovertemplate="%{x}: %{y:.0%}<extra>" + GROUP_NAMES[g] + "</extra>",
            )  # fmt: skip
            for g in groups
        ]
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="mean weight in the decision")
    fig.update_xaxes(tickangle=-35 if slanted else 0)
    return legend_on_top(layout(fig, 440, title=title), lines=len(groups))  # drawn in half the page


def reliance_by_group(df: pd.DataFrame, group_column: str, title: str) -> go.Figure:
    """Per value of `group_column`, the mean fall of the answer's probability when the words, or the
    photo, are removed and the post scored again (measured by intervention, posts with a photo)."""
    means = (
        df.groupby(group_column)[["reliance_words", "reliance_photo"]].mean().sort_index(key=lambda i: i.astype(str))
    )
    names = [wrap(pretty(v), 14) for v in means.index]
    fig = go.Figure(
        [
            go.Bar(
                x=names,
                y=means[column],
                name=name,
                marker_color=color,
                hovertemplate="%{x}: falls by %{y:.1%}<extra>" + name + "</extra>",
            )  # fmt: skip
            for column, name, color in (
                ("reliance_words", "without the words", TEXT_COLOR),
                ("reliance_photo", "without the photo", IMAGE_COLOR),
            )  # fmt: skip
        ]
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", title="mean fall of the answer's probability")
    fig.update_xaxes(tickangle=0)
    return legend_on_top(layout(fig, 400, title=title))


def routing_by_class(
    matrices: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    primary_names: Sequence[str] | None = None,
    columns: int = 3,
    title: str = "Mean routing per predicted class",
) -> go.Figure:
    """Small multiples: one mean routing matrix per class, on one shared colour scale."""
    names = list(matrices)
    columns = max(1, min(columns, len(names)))
    rows = max(1, int(np.ceil(len(names) / columns)))
    fig = make_subplots(
        rows=rows,
        cols=columns,
        horizontal_spacing=0.08,
        vertical_spacing=0.16,
        subplot_titles=[f"{wrap(pretty(n), 30)}<br>{counts.get(n, 0):,} posts" for n in names],
    )
    zmax = max((float(np.max(m)) for m in matrices.values()), default=1.0)
    for k, name in enumerate(names):
        matrix = np.asarray(matrices[name], dtype=float)
        primary = (
            [pretty(p) for p in primary_names]
            if primary_names and len(primary_names) == matrix.shape[0]
            else [f"capsule {i + 1}" for i in range(matrix.shape[0])]
        )
        fig.add_trace(
            go.Heatmap(
                z=matrix,
                x=[str(j + 1) for j in range(matrix.shape[1])],  # short and level: nothing reaches the scale
                y=primary,
                colorscale="Purples",
                zmin=0,
                zmax=zmax,
                showscale=k == 0,
                colorbar=dict(title="share", thickness=12, x=1.0, xanchor="left", xpad=12),  # right of the panels
                hovertemplate=f"{pretty(name)}<br>" + "%{y} -> combined %{x}: %{z:.3f}<extra></extra>",
            ),
            row=k // columns + 1,
            col=k % columns + 1,
        )
        # the rows' names once per line of panels: repeated, they run into the panel on their left
        fig.update_yaxes(autorange="reversed", showticklabels=k % columns == 0, row=k // columns + 1,
                         col=k % columns + 1)  # fmt: skip
        fig.update_xaxes(title=dict(text="combined summary", font=dict(size=11)), tickangle=0, row=k // columns + 1,
                         col=k % columns + 1)  # fmt: skip
    layout(fig, 80 + 330 * rows, title=title)
    fig.update_layout(margin=dict(t=100, r=80))  # room for the title above the subplot titles, the scale beside
    return fig


def confidence_vs_text_weight(
    df: pd.DataFrame, title: str = "Confidence vs. the weight of the words' vote", max_points: int = 5000
) -> go.Figure:
    """Scatter of confidence against text_weight, coloured by right / wrong."""
    if len(df) > max_points:
        df = df.sample(max_points, random_state=0)
    fig = go.Figure()
    for correct, name, color in ((True, "right", RIGHT_COLOR), (False, "wrong", WRONG_COLOR)):
        part = df[df["correct"].astype(bool) == correct]
        fig.add_trace(
            go.Scattergl(
                x=part["text_weight"],
                y=part["confidence"],
                mode="markers",
                name=name,
                marker=dict(color=color, size=6, opacity=0.6),
                customdata=np.stack([part["post_id"].astype(str), part["predicted_label"].map(pretty)], axis=-1)
                if len(part)
                else None,
                hovertemplate="post %{customdata[0]}<br>said %{customdata[1]}<br>confidence %{y:.2f}"
                "<br>words share %{x:.2f}<extra></extra>",
            )
        )
    fig.update_xaxes(range=[-0.02, 1.02], title="weight of the words' vote")
    fig.update_yaxes(range=[0, 1.02], title="confidence")
    return legend_on_top(layout(fig, 440, title=title))
