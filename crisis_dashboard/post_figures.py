"""The figures of one post's answer and explanation, as pure functions returning Plotly figures.

Nothing here imports Streamlit; the captions are in `figures.CAPTIONS`.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageOps

from crisis_dashboard.figures import IMAGE_COLOR, RIGHT_COLOR, TEXT_COLOR, layout, wrap
from crisis_dashboard.names import pretty
from crisis_model.model.image_encoder import REGION_GRID


def probabilities_bar(probabilities: Mapping[str, float], title: str = "Category probabilities") -> go.Figure:
    labels = list(probabilities)
    values = [float(probabilities[k]) for k in labels]
    best = int(np.argmax(values)) if values else -1
    colors = [RIGHT_COLOR if i == best else "#9aa5b1" for i in range(len(labels))]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[wrap(pretty(k), 24) for k in labels],
            orientation="h",
            marker_color=colors,
            text=[f"{v:.0%}" for v in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="probability")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, 80 + 38 * len(labels), title=title)


def modality_bar(weights: Mapping[str, float], title: str = "Words vs. photo") -> go.Figure:
    text_w, image_w = float(weights.get("text", 0.0)), float(weights.get("image", 0.0))
    fig = go.Figure(
        go.Bar(
            x=[text_w, image_w],
            y=["Words (text)", "Photo (image)"],
            orientation="h",
            marker_color=[TEXT_COLOR, IMAGE_COLOR],
            text=[f"{text_w:.0%}", f"{image_w:.0%}"],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="share of the decision")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, 190, title=title)


def capsule_lengths_bar(lengths: Sequence[float], title: str = "Capsule strengths") -> go.Figure:
    values = np.asarray(lengths, dtype=float).ravel()
    names = [f"unit {i + 1}" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color="#6c5ce7", hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], title="length (0-1)")
    return layout(fig, 260, title=title)


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Readable, unique-looking labels of tokenizer pieces (spaces shown, blanks named)."""
    out = []
    for token in tokens:
        shown = str(token).replace("\n", "\u21b5").replace("\t", "\u21e5").strip()
        out.append(shown if shown else "\u2423")
    return out


def region_names() -> list[str]:
    return [f"row {r + 1}, col {c + 1}" for r in range(REGION_GRID) for c in range(REGION_GRID)]


def token_region_heatmap(
    tokens: Sequence[str], matrix: np.ndarray, title: str = "Word -> photo-region attention"
) -> go.Figure:
    """(tokens x 49) attention, the real tokens on the y axis in reading order."""
    matrix = np.asarray(matrix, dtype=float)
    n = matrix.shape[0]
    labels = token_labels(tokens[:n])
    regions = region_names()
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(range(1, matrix.shape[1] + 1)),
            y=list(range(n)),
            colorscale="Blues",
            colorbar=dict(title="attention", thickness=12),
            customdata=np.dstack(
                [
                    np.repeat(np.array(labels, dtype=object)[:, None], matrix.shape[1], axis=1),
                    np.repeat(np.array(regions[: matrix.shape[1]], dtype=object)[None, :], n, axis=0),
                ]
            ),
            hovertemplate="word '%{customdata[0]}' -> %{customdata[1]}<br>attention %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(n)),
        ticktext=labels,
        autorange="reversed",
        title="words (as the model split them)",
        tickfont=dict(size=11),
    )
    fig.update_xaxes(title="photo square (1 = top left ... 49 = bottom right)", dtick=7, tick0=1)
    return layout(fig, max(320, 14 * n + 120), title=title)


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


def region_overlay(
    image: Image.Image, grid: np.ndarray, title: str = "Where the words looked in the photo", size: int = 224
) -> go.Figure:
    """The model's view of the image with a 7 x 7 heat map laid over it."""
    grid = np.asarray(grid, dtype=float).reshape(REGION_GRID, REGION_GRID)
    cell = size / REGION_GRID
    centres = [cell * (i + 0.5) for i in range(REGION_GRID)]
    fig = go.Figure()
    fig.add_trace(go.Image(source=_png_data_uri(model_view(image, size)), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    # low attention is see-through, high attention glows red-yellow
    heat = [
        [0.0, "rgba(255,255,178,0)"],
        [0.35, "rgba(254,204,92,0.25)"],
        [0.7, "rgba(253,141,60,0.5)"],
        [1.0, "rgba(227,26,28,0.75)"],
    ]
    fig.add_trace(
        go.Heatmap(
            z=grid,
            x=centres,
            y=centres,
            colorscale=heat,
            zsmooth=False,
            xgap=1,
            ygap=1,
            zmin=float(grid.min()),
            zmax=float(grid.max()) if grid.max() > grid.min() else float(grid.min()) + 1e-6,
            colorbar=dict(title="attention", thickness=12),
            customdata=np.arange(1, REGION_GRID * REGION_GRID + 1).reshape(REGION_GRID, REGION_GRID),
            hovertemplate="square %{customdata}<br>attention %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, range=[0, size], constrain="domain")
    fig.update_yaxes(visible=False, range=[size, 0], scaleanchor="x", constrain="domain")
    return layout(fig, 420, title=title)


def image_to_words_bar(
    tokens: Sequence[str], region_to_token: np.ndarray, top: int = 12, title: str = "Words the photo looked at"
) -> go.Figure:
    """Mean over the 49 regions of their attention over the tokens: the top words."""
    weights = np.asarray(region_to_token, dtype=float).mean(axis=0)
    labels = token_labels(tokens[: len(weights)])
    order = np.argsort(weights)[::-1][:top]
    fig = go.Figure(
        go.Bar(
            x=weights[order],
            y=[f"{labels[i]} (#{i + 1})" for i in order],
            orientation="h",
            marker_color=IMAGE_COLOR,
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="mean attention from the photo")
    return layout(fig, 100 + 24 * len(order), title=title)


def routing_heatmap(
    coefficients: np.ndarray,
    primary_names: Sequence[str] | None = None,
    title: str = "Routing: evidence -> combined units",
    zmax: float | None = None,
) -> go.Figure:
    """(primary capsules x fused capsules) coefficients, labelled, with the values written in."""
    matrix = np.asarray(coefficients, dtype=float)
    rows = [pretty(n) for n in (primary_names or [f"capsule {i + 1}" for i in range(matrix.shape[0])])]
    if len(rows) != matrix.shape[0]:
        rows = [f"capsule {i + 1}" for i in range(matrix.shape[0])]
    columns = [f"unit {j + 1}" for j in range(matrix.shape[1])]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=columns,
            y=rows,
            colorscale="Purples",
            zmin=0,
            zmax=zmax or max(float(matrix.max()), 1e-6),
            text=np.round(matrix, 2),
            texttemplate="%{text:.2f}",
            textfont=dict(size=11),
            colorbar=dict(title="share", thickness=12),
            hovertemplate="%{y} -> %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="evidence (primary capsules)")
    fig.update_xaxes(title="combined units (fused capsules)", side="bottom")
    return layout(fig, max(300, 30 * len(rows) + 120), title=title)
