"""Every figure of the dashboard, as pure functions returning Plotly figures.

Nothing here imports Streamlit: each function takes plain data (dicts, numpy arrays, pandas
frames, PIL images) and returns a `plotly.graph_objects.Figure`, so the figures can be tested
and reused in notebooks. `CAPTIONS` holds the one-line "how to read it" shown under each.
"""

from __future__ import annotations

import base64
import io
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image, ImageOps

from crisis_dashboard.names import pretty
from crisis_model.model.image_encoder import REGION_GRID

TEXT_COLOR = "#1f77b4"
IMAGE_COLOR = "#ff7f0e"
RIGHT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
FONT = dict(size=13)

CAPTIONS = {
    "probabilities": "How sure the model is about each category; the longest bar is its answer.",
    "modality": "How much the final decision leaned on the words versus the photo; the two shares add up to 100 %.",
    "capsule_lengths": "Strength of each of the model's summary units (capsules), between 0 and 1; "
                       "long bars are the evidence the classifier read most.",
    "token_region": "Rows are the words as the model split them, columns the 49 squares of the photo "
                    "(7 x 7, read left to right, top to bottom); darker means that word looked harder at that square.",
    "overlay": "The photo as the model saw it (centre crop) with a 7 x 7 heat map on top: brighter squares "
               "drew more attention from the chosen words.",
    "image_to_words": "Which words the photo's squares looked at most, on average; longer bars mean more attention.",
    "routing": "How the model combined its evidence: each row is a piece of evidence from the text or the photo, "
               "each column a combined unit; a row's shares add up to 1, so a dark cell is where that evidence went.",
    "posts_per_event": "Number of posts per crisis event, split by whether the post came with a usable photo.",
    "labels": "How many posts carry each label in this task (all splits together).",
    "images": "Posts with a photo the model can use, and posts analysed from their text only.",
    "confusion": "Rows are the true labels, columns what the model said; the diagonal is right, "
                 "everything else is a mistake (each cell shows the count and the share of its row).",
    "ablation": "The same task trained with simpler ways of combining text and photo; higher is better.",
    "history": "Training progress per epoch: the loss should fall and the dev score should rise.",
    "modality_by_group": "Share of the decision taken from the words (0 = photo only, 1 = words only), "
                         "for posts with a photo; the box holds the middle half of the posts, the line is the median.",
    "routing_by_class": "Average routing matrix (evidence rows -> combined units) of the posts the model put in each "
                        "class; differing patterns mean the classes are decided from different evidence.",
    "confidence_vs_text": "Each dot is a post: how sure the model was against how much it leaned on the words; "
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


def _layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      template="plotly_white", **kwargs)
    return fig


# ------------------------------------------------------------------------------ one post


def probabilities_bar(probabilities: Mapping[str, float], title: str = "Category probabilities") -> go.Figure:
    labels = list(probabilities)
    values = [float(probabilities[k]) for k in labels]
    best = int(np.argmax(values)) if values else -1
    colors = [RIGHT_COLOR if i == best else "#9aa5b1" for i in range(len(labels))]
    fig = go.Figure(go.Bar(
        x=values, y=[wrap(pretty(k), 24) for k in labels], orientation="h", marker_color=colors,
        text=[f"{v:.0%}" for v in values], textposition="auto",
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="probability")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 80 + 38 * len(labels), title=title)


def modality_bar(weights: Mapping[str, float], title: str = "Words vs. photo") -> go.Figure:
    text_w, image_w = float(weights.get("text", 0.0)), float(weights.get("image", 0.0))
    fig = go.Figure(go.Bar(
        x=[text_w, image_w], y=["Words (text)", "Photo (image)"], orientation="h",
        marker_color=[TEXT_COLOR, IMAGE_COLOR], text=[f"{text_w:.0%}", f"{image_w:.0%}"],
        textposition="auto", hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="share of the decision")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 190, title=title)


def capsule_lengths_bar(lengths: Sequence[float], title: str = "Capsule strengths") -> go.Figure:
    values = np.asarray(lengths, dtype=float).ravel()
    names = [f"unit {i + 1}" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color="#6c5ce7",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], title="length (0-1)")
    return _layout(fig, 260, title=title)


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Readable, unique-looking labels of tokenizer pieces (spaces shown, blanks named)."""
    out = []
    for token in tokens:
        shown = str(token).replace("\n", "\u21b5").replace("\t", "\u21e5").strip()
        out.append(shown if shown else "\u2423")
    return out


def region_names() -> list[str]:
    return [f"row {r + 1}, col {c + 1}" for r in range(REGION_GRID) for c in range(REGION_GRID)]


def token_region_heatmap(tokens: Sequence[str], matrix: np.ndarray,
                         title: str = "Word -> photo-region attention") -> go.Figure:
    """(tokens x 49) attention, the real tokens on the y axis in reading order."""
    matrix = np.asarray(matrix, dtype=float)
    n = matrix.shape[0]
    labels = token_labels(tokens[:n])
    regions = region_names()
    fig = go.Figure(go.Heatmap(
        z=matrix, x=list(range(1, matrix.shape[1] + 1)), y=list(range(n)),
        colorscale="Blues", colorbar=dict(title="attention", thickness=12),
        customdata=np.dstack([
            np.repeat(np.array(labels, dtype=object)[:, None], matrix.shape[1], axis=1),
            np.repeat(np.array(regions[: matrix.shape[1]], dtype=object)[None, :], n, axis=0),
        ]),
        hovertemplate="word '%{customdata[0]}' -> %{customdata[1]}<br>attention %{z:.3f}<extra></extra>",
    ))
    fig.update_yaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, autorange="reversed",
                     title="words (as the model split them)", tickfont=dict(size=11))
    fig.update_xaxes(title="photo square (1 = top left ... 49 = bottom right)", dtick=7, tick0=1)
    return _layout(fig, max(320, 14 * n + 120), title=title)


def model_view(image: Image.Image, size: int = 224) -> Image.Image:
    """The part of the image the model sees: shorter side resized to `size`, centre crop."""
    image = image.convert("RGB")
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR, centering=(0.5, 0.5))


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def region_weights(token_to_region: np.ndarray, token_index: int | None = None) -> np.ndarray:
    """A 7 x 7 grid: one token's attention over the regions, or the mean over all tokens."""
    matrix = np.asarray(token_to_region, dtype=float)
    row = matrix.mean(axis=0) if token_index is None else matrix[token_index]
    return row.reshape(REGION_GRID, REGION_GRID)


def region_overlay(image: Image.Image, grid: np.ndarray, title: str = "Where the words looked in the photo",
                   size: int = 224) -> go.Figure:
    """The model's view of the image with a 7 x 7 heat map laid over it."""
    grid = np.asarray(grid, dtype=float).reshape(REGION_GRID, REGION_GRID)
    cell = size / REGION_GRID
    centres = [cell * (i + 0.5) for i in range(REGION_GRID)]
    fig = go.Figure()
    fig.add_trace(go.Image(source=_png_data_uri(model_view(image, size)), x0=0, y0=0, dx=1, dy=1,
                           hoverinfo="skip"))
    # low attention is see-through, high attention glows red-yellow
    heat = [[0.0, "rgba(255,255,178,0)"], [0.35, "rgba(254,204,92,0.25)"], [0.7, "rgba(253,141,60,0.5)"],
            [1.0, "rgba(227,26,28,0.75)"]]
    fig.add_trace(go.Heatmap(
        z=grid, x=centres, y=centres, colorscale=heat, zsmooth=False, xgap=1, ygap=1,
        zmin=float(grid.min()), zmax=float(grid.max()) if grid.max() > grid.min() else float(grid.min()) + 1e-6,
        colorbar=dict(title="attention", thickness=12),
        customdata=np.arange(1, REGION_GRID * REGION_GRID + 1).reshape(REGION_GRID, REGION_GRID),
        hovertemplate="square %{customdata}<br>attention %{z:.3f}<extra></extra>",
    ))
    fig.update_xaxes(visible=False, range=[0, size], constrain="domain")
    fig.update_yaxes(visible=False, range=[size, 0], scaleanchor="x", constrain="domain")
    return _layout(fig, 420, title=title)


def image_to_words_bar(tokens: Sequence[str], region_to_token: np.ndarray, top: int = 12,
                       title: str = "Words the photo looked at") -> go.Figure:
    """Mean over the 49 regions of their attention over the tokens: the top words."""
    weights = np.asarray(region_to_token, dtype=float).mean(axis=0)
    labels = token_labels(tokens[: len(weights)])
    order = np.argsort(weights)[::-1][:top]
    fig = go.Figure(go.Bar(
        x=weights[order], y=[f"{labels[i]} (#{i + 1})" for i in order], orientation="h",
        marker_color=IMAGE_COLOR, hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="mean attention from the photo")
    return _layout(fig, 100 + 24 * len(order), title=title)


def routing_heatmap(coefficients: np.ndarray, primary_names: Sequence[str] | None = None,
                    title: str = "Routing: evidence -> combined units", zmax: float | None = None) -> go.Figure:
    """(primary capsules x fused capsules) coefficients, labelled, with the values written in."""
    matrix = np.asarray(coefficients, dtype=float)
    rows = [pretty(n) for n in (primary_names or [f"capsule {i + 1}" for i in range(matrix.shape[0])])]
    if len(rows) != matrix.shape[0]:
        rows = [f"capsule {i + 1}" for i in range(matrix.shape[0])]
    columns = [f"unit {j + 1}" for j in range(matrix.shape[1])]
    fig = go.Figure(go.Heatmap(
        z=matrix, x=columns, y=rows, colorscale="Purples", zmin=0, zmax=zmax or max(float(matrix.max()), 1e-6),
        text=np.round(matrix, 2), texttemplate="%{text:.2f}", textfont=dict(size=11),
        colorbar=dict(title="share", thickness=12),
        hovertemplate="%{y} -> %{x}: %{z:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="evidence (primary capsules)")
    fig.update_xaxes(title="combined units (fused capsules)", side="bottom")
    return _layout(fig, max(300, 30 * len(rows) + 120), title=title)


# ------------------------------------------------------------------------------ the dataset


def posts_per_event(df: pd.DataFrame, title: str = "Posts per event") -> go.Figure:
    """Bars per event, stacked: with a usable photo / text only. Needs event and image_path."""
    has_image = df["image_path"].fillna("").astype(str) != ""
    table = pd.crosstab(df["event"], has_image).reindex(columns=[True, False], fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
    names = [wrap(pretty(e), 12) for e in table.index]
    fig = go.Figure([
        go.Bar(x=names, y=table[True], name="with a photo", marker_color=IMAGE_COLOR),
        go.Bar(x=names, y=table[False], name="text only", marker_color=TEXT_COLOR),
    ])
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=-0.25, x=0))
    fig.update_xaxes(tickangle=0)
    fig.update_yaxes(title="posts")
    return _layout(fig, 360, title=title)


def label_distribution(counts: Mapping[str, int], title: str) -> go.Figure:
    labels = sorted(counts, key=lambda k: -counts[k])
    total = max(sum(counts.values()), 1)
    fig = go.Figure(go.Bar(
        x=[counts[k] for k in labels], y=[wrap(pretty(k), 18) for k in labels], orientation="h",
        marker_color="#4c78a8", text=[f"{counts[k]:,} ({counts[k] / total:.0%})" for k in labels],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:,} posts<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="posts", range=[0, max(counts.values(), default=1) * 1.45])
    return _layout(fig, 100 + 48 * max(len(labels), 1), title=title)


def image_presence(with_image: int, without_image: int, title: str = "Posts with and without a photo") -> go.Figure:
    fig = go.Figure(go.Pie(
        labels=["with a photo", "text only"], values=[with_image, without_image], hole=0.5,
        marker_colors=[IMAGE_COLOR, TEXT_COLOR], sort=False,
        hovertemplate="%{label}: %{value:,} posts (%{percent})<extra></extra>",
    ))
    return _layout(fig, 320, title=title)


def confusion_matrix(true: Sequence[str], predicted: Sequence[str], labels: Sequence[str],
                     title: str = "Confusion matrix") -> go.Figure:
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
    fig = go.Figure(go.Heatmap(
        z=shares, x=names, y=names, colorscale="Blues", zmin=0, zmax=1, text=text, texttemplate="%{text}",
        customdata=counts, colorbar=dict(title="row share", thickness=12, tickformat=".0%"),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata:,} posts (%{z:.0%} of the row)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="true label")
    fig.update_xaxes(title="predicted label", tickangle=-20)
    return _layout(fig, 160 + 70 * len(labels), title=title)


def ablation_bars(table: pd.DataFrame, variant_column: str, metrics: Sequence[str],
                  highlight: str | None = None, title: str = "Ways of combining text and photo") -> go.Figure:
    fig = go.Figure()
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    for k, metric in enumerate(metrics):
        fig.add_trace(go.Bar(
            x=[str(v) for v in table[variant_column]], y=table[metric], name=pretty(metric.removesuffix("_mean")),
            marker_color=palette[k % len(palette)], text=[f"{v:.3f}" if pd.notna(v) else "" for v in table[metric]],
            textposition="auto",
        ))
    if highlight is not None and str(highlight) in set(map(str, table[variant_column])):
        fig.add_annotation(x=str(highlight), y=1.0, yref="paper", text="this model", showarrow=False, yshift=8)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2, x=0))
    fig.update_xaxes(title="fusion variant")
    fig.update_yaxes(title="score")
    return _layout(fig, 380, title=title)


def training_history(history: pd.DataFrame, title: str = "Training history") -> go.Figure:
    """Loss and the dev metrics per epoch, on two axes."""
    x = history["epoch"] if "epoch" in history else pd.Series(range(1, len(history) + 1))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    loss_columns = [c for c in history.columns if "loss" in c]
    dev_columns = [c for c in history.columns if c.startswith("dev") and "loss" not in c
                   and pd.api.types.is_numeric_dtype(history[c])][:3]
    for column in loss_columns:
        fig.add_trace(go.Scatter(x=x, y=history[column], name=pretty(column), mode="lines+markers"), secondary_y=False)
    for column in dev_columns:
        fig.add_trace(go.Scatter(x=x, y=history[column], name=pretty(column), mode="lines+markers",
                                 line=dict(dash="dot")), secondary_y=True)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="loss", secondary_y=False)
    fig.update_yaxes(title="dev score", secondary_y=True)
    fig.update_layout(legend=dict(orientation="h", y=-0.25, x=0))
    return _layout(fig, 340, title=title)


def modality_by_group(df: pd.DataFrame, group_column: str, title: str) -> go.Figure:
    """Box plots of text_weight per value of `group_column` (posts with a photo only)."""
    fig = go.Figure()
    for value, part in sorted(df.groupby(group_column), key=lambda kv: str(kv[0])):
        fig.add_trace(go.Box(
            y=part["text_weight"], name=pretty(value), boxpoints="outliers", marker_color=TEXT_COLOR,
            hovertemplate="%{y:.2f}<extra>" + pretty(value) + "</extra>", showlegend=False,
        ))
    fig.update_yaxes(range=[0, 1], title="share taken from the words")
    fig.update_xaxes(tickangle=-20)
    return _layout(fig, 380, title=title)


def routing_by_class(matrices: Mapping[str, np.ndarray], counts: Mapping[str, int],
                     primary_names: Sequence[str] | None = None, columns: int = 3,
                     title: str = "Mean routing per predicted class") -> go.Figure:
    """Small multiples: one mean routing matrix per class, on one shared colour scale."""
    names = list(matrices)
    columns = max(1, min(columns, len(names)))
    rows = max(1, int(np.ceil(len(names) / columns)))
    fig = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.08, vertical_spacing=0.16,
                        subplot_titles=[f"{pretty(n)} ({counts.get(n, 0)} posts)" for n in names])
    zmax = max((float(np.max(m)) for m in matrices.values()), default=1.0)
    for k, name in enumerate(names):
        matrix = np.asarray(matrices[name], dtype=float)
        primary = [pretty(p) for p in primary_names] if primary_names and len(primary_names) == matrix.shape[0] \
            else [f"capsule {i + 1}" for i in range(matrix.shape[0])]
        fig.add_trace(go.Heatmap(
            z=matrix, x=[f"unit {j + 1}" for j in range(matrix.shape[1])], y=primary, colorscale="Purples",
            zmin=0, zmax=zmax, showscale=k == 0, colorbar=dict(title="share", thickness=12),
            hovertemplate=f"{pretty(name)}<br>" + "%{y} -> %{x}: %{z:.3f}<extra></extra>",
        ), row=k // columns + 1, col=k % columns + 1)
        fig.update_yaxes(autorange="reversed", row=k // columns + 1, col=k % columns + 1)
    _layout(fig, 80 + 330 * rows, title=title)
    fig.update_layout(margin=dict(t=90))  # room for the title above the subplot titles
    return fig


def confidence_vs_text_weight(df: pd.DataFrame, title: str = "Confidence vs. reliance on the words",
                              max_points: int = 5000) -> go.Figure:
    """Scatter of confidence against text_weight, coloured by right / wrong."""
    if len(df) > max_points:
        df = df.sample(max_points, random_state=0)
    fig = go.Figure()
    for correct, name, color in ((True, "right", RIGHT_COLOR), (False, "wrong", WRONG_COLOR)):
        part = df[df["correct"].astype(bool) == correct]
        fig.add_trace(go.Scattergl(
            x=part["text_weight"], y=part["confidence"], mode="markers", name=name,
            marker=dict(color=color, size=6, opacity=0.6),
            customdata=np.stack([part["post_id"].astype(str), part["predicted_label"].map(pretty)], axis=-1)
            if len(part) else None,
            hovertemplate="post %{customdata[0]}<br>said %{customdata[1]}<br>confidence %{y:.2f}"
                          "<br>words share %{x:.2f}<extra></extra>",
        ))
    fig.update_xaxes(range=[-0.02, 1.02], title="share taken from the words")
    fig.update_yaxes(range=[0, 1.02], title="confidence")
    fig.update_layout(legend=dict(orientation="h", y=-0.15, x=0))
    return _layout(fig, 440, title=title)
