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

from crisis_dashboard.figures import GROUP_COLORS, GROUP_NAMES, IMAGE_COLOR, RIGHT_COLOR, layout, wrap
from crisis_dashboard.literal import chart_label
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


def evidence_rows(groups: Sequence[str]) -> list[str]:
    """Names of the routing matrix's rows: each evidence group's capsules, numbered within it."""
    return [f"{GROUP_NAMES[g]} {list(groups[: k + 1]).count(g)}" for k, g in enumerate(groups)]


def modality_bar(weights: Mapping[str, float], title: str = "Where the evidence came from") -> go.Figure:
    """The gate's weights of the three evidence groups, as horizontal bars."""
    groups = [g for g in GROUP_NAMES if g in weights]
    values = [float(weights[g]) for g in groups]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[GROUP_NAMES[g] for g in groups],
            orientation="h",
            marker_color=[GROUP_COLORS[g] for g in groups],
            text=[f"{v:.0%}" for v in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="weight in the decision")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, 200, title=title)


def votes_bar(
    votes: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    answer: Mapping[str, float],
    title: str = "What each part of the evidence says",
) -> go.Figure:
    """Per category, the probability each evidence group's own vote gives it (named with how much
    the vote counted) beside the final answer's, which is the votes' weighted mean."""
    labels = list(answer)
    names = [wrap(pretty(k), 24) for k in labels]
    fig = go.Figure(
        [
            go.Bar(
                x=[float(votes[g].get(k, 0.0)) for k in labels],
                y=names,
                orientation="h",
                name=f"{GROUP_NAMES[g]} (counted {weights.get(g, 0.0):.0%})",
                marker_color=GROUP_COLORS[g],
                hovertemplate="%{y}: %{x:.0%}<extra>" + GROUP_NAMES[g] + "</extra>",
            )
            for g in votes
        ]
        + [
            go.Bar(
                x=[float(answer[k]) for k in labels],
                y=names,
                orientation="h",
                name="The answer (weighted mean)",
                marker_color="#4a4a4a",
                hovertemplate="%{y}: %{x:.0%}<extra>the answer</extra>",
            )
        ]
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="probability of each category")
    fig.update_yaxes(autorange="reversed")
    # the legend above the plot, under the title: below it, it covered the axis title at 1280-1400 px
    fig.update_layout(barmode="group", legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    fig = layout(fig, 190 + (len(votes) + 1) * 16 * len(labels), title=title)
    fig.update_layout(margin=dict(t=100))
    return fig


def capsule_lengths_bar(
    lengths: Sequence[float], names: Sequence[str], title: str = "Strength of each summary unit (capsule)"
) -> go.Figure:
    """The length of each fused capsule, named by its evidence group."""
    values = np.asarray(lengths, dtype=float).ravel()
    fig = go.Figure(go.Bar(x=names, y=values, marker_color="#6c5ce7", hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], title="strength (0-1)")
    return layout(fig, 260, title=title)


def grid_labels() -> list[str]:
    """The 49 regions as rows and columns of the 7 x 7 grid over the photo."""
    return [f"row {r + 1}, col {c + 1}" for r in range(REGION_GRID) for c in range(REGION_GRID)]


def word_region_heatmap(words: Sequence[str], lift: np.ndarray, title: str = "Where each word looked") -> go.Figure:
    """(words x 49) attention as lift over uniform: 1 = no more than at any other region."""
    lift = np.asarray(lift, dtype=float)
    n = lift.shape[0]
    cells, labels = grid_labels(), [chart_label(word) for word in words]
    high = max(2.0, float(lift.max()))  # lift is never below 0; white sits at 1 (an even spread)
    even = 1.0 / high
    fig = go.Figure(
        go.Heatmap(
            z=lift,
            x=list(range(1, lift.shape[1] + 1)),
            y=list(range(n)),
            colorscale=[[0.0, "#2166ac"], [even, "#f7f7f7"], [1.0, "#b2182b"]],
            zmin=0.0,
            zmax=high,
            colorbar=dict(title="× an even<br>spread", thickness=12, ticksuffix=" ×"),
            customdata=np.dstack(
                [
                    np.repeat(np.array(labels, dtype=object)[:, None], lift.shape[1], axis=1),
                    np.repeat(np.array(cells[: lift.shape[1]], dtype=object)[None, :], n, axis=0),
                ]
            ),
            hovertemplate="'%{customdata[0]}' -> %{customdata[1]}<br>%{z:.2f} × an even spread<extra></extra>",
        )
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, autorange="reversed",
                     title="the post's words", tickfont=dict(size=11))  # fmt: skip
    rows = list(range(1, REGION_GRID * REGION_GRID + 1, REGION_GRID))
    fig.update_xaxes(title="the photo's 7 × 7 squares, one block per row of the grid (top row first)",
                     tickmode="array", tickvals=[r + REGION_GRID // 2 for r in rows],
                     ticktext=[f"row {r}" for r in range(1, REGION_GRID + 1)])  # fmt: skip
    for r in rows[1:]:  # a line between the grid's rows, so each block reads as one row of the photo
        fig.add_vline(x=r - 0.5, line_width=1, line_color="#555")
    return layout(fig, max(320, 18 * n + 120), title=title)


def model_view(image: Image.Image, size: int = 224) -> Image.Image:
    """The part of the image the model sees: shorter side resized to `size`, centre crop."""
    image = image.convert("RGB")
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR, centering=(0.5, 0.5))


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def region_grid(lift: np.ndarray, word: int | None = None) -> np.ndarray:
    """A 7 x 7 grid of lift: one word's, or the mean over all words."""
    matrix = np.asarray(lift, dtype=float)
    row = matrix.mean(axis=0) if word is None else matrix[word]
    return row.reshape(REGION_GRID, REGION_GRID)


def region_overlay(
    image: Image.Image, grid: np.ndarray, title: str = "Where the words looked in the photo", size: int = 224
) -> go.Figure:
    """The model's view of the image with a 7 x 7 grid of attention lift laid over it: squares at or
    below an even spread (1) stay clear, twice an even spread or more glows fully."""
    grid = np.asarray(grid, dtype=float)
    high = max(2.0, float(grid.max()))
    return _overlay(image, grid, 1.0, high, "× an even<br>spread", "%{z:.2f} × an even spread", title, size)


FLAT_MAP_POINTS = 1.0  # a photo map whose largest fall is under this many points would be drawn blank


def importance_overlay(
    image: Image.Image, importance: np.ndarray, title: str = "What in the photo mattered", size: int = 224
) -> go.Figure:
    """The model's view of the image with, per square of the 7 x 7 grid, how many points the answer's
    probability falls when that square is hidden: no fall stays clear, the largest glows fully."""
    points = 100 * np.asarray(importance, dtype=float)
    high = max(float(points.max()), FLAT_MAP_POINTS)
    hover = "hidden: the answer's probability falls by %{z:.1f} points"
    return _overlay(image, points, 0.0, high, "fall<br>(points)", hover, title, size)


def _overlay(
    image: Image.Image, values: np.ndarray, low: float, high: float, unit: str, hover: str, title: str, size: int
) -> go.Figure:
    grid = values.reshape(REGION_GRID, REGION_GRID)
    cell = size / REGION_GRID
    centres = [cell * (i + 0.5) for i in range(REGION_GRID)]
    fig = go.Figure()
    fig.add_trace(go.Image(source=_png_data_uri(model_view(image, size)), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    # low values are see-through, high ones glow red-yellow
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
            zmin=low,
            zmax=high,
            colorbar=dict(title=unit, thickness=12),
            customdata=np.array(grid_labels(), dtype=object).reshape(REGION_GRID, REGION_GRID),
            hovertemplate="%{customdata}<br>" + hover + "<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, range=[0, size], constrain="domain")
    fig.update_yaxes(visible=False, range=[size, 0], scaleanchor="x", constrain="domain")
    return layout(fig, 420, title=title)


def image_to_words_bar(
    words: Sequence[str], region_to_word: np.ndarray, top: int = 12, title: str = "Words the photo looked at"
) -> go.Figure:
    """The share of the photo's attention each word got, on average over its 49 regions: the top words."""
    shares = np.asarray(region_to_word, dtype=float).mean(axis=0)
    order = np.argsort(shares)[::-1][:top]
    fig = go.Figure(
        go.Bar(
            x=shares[order],
            y=[chart_label(words[i]) for i in order],
            orientation="h",
            marker_color=IMAGE_COLOR,
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="share of the photo's attention", tickformat=".0%")
    return layout(fig, 100 + 24 * len(order), title=title)


def routing_heatmap(
    coefficients: np.ndarray,
    primary_names: Sequence[str] | None = None,
    title: str = "Routing: where each piece of evidence went",
    zmax: float | None = None,
) -> go.Figure:
    """(primary capsules x fused capsules) coefficients, labelled, with the values written in."""
    matrix = np.asarray(coefficients, dtype=float)
    rows = [pretty(n) for n in (primary_names or [f"capsule {i + 1}" for i in range(matrix.shape[0])])]
    if len(rows) != matrix.shape[0]:
        rows = [f"capsule {i + 1}" for i in range(matrix.shape[0])]
    columns = [f"combined {j + 1}" for j in range(matrix.shape[1])]
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
    fig.update_yaxes(autorange="reversed", title="evidence pieces")
    fig.update_xaxes(title="combined summaries", side="bottom")
    return layout(fig, max(300, 30 * len(rows) + 120), title=title)
