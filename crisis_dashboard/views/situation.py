"""Situation (/situation): per event, the model's answers over time (stacked per hour or day) and the
share of informative posts, from the run's predictions (crisis_dashboard.situation)."""

from __future__ import annotations

import streamlit as st

from crisis_dashboard import loaders, situation, widgets
from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.reliability import reliability_badge
from crisis_dashboard.state import AppState

# This page's keys: the session state's by name (the event a widget picks); a chart's is PREFIX + its name.
PREFIX = "si-"
EVENT = PREFIX + "event"


def show(state: AppState) -> None:
    run = widgets.require_run(state)
    frame = widgets.guard(lambda: loaders.load_predictions(run), "read the predictions")
    if frame is None:
        return
    informative_run = state.runs.runs.get("informative") if state.runs is not None else None
    informative = None
    if informative_run is not None:
        informative = widgets.guard(lambda: loaders.load_predictions(informative_run), "read the informative answers")

    st.markdown(
        f"How the crisis unfolded as the **{task_title(run.task)}** model reads it: its answers for the "
        f"{len(frame):,} posts it was scored on (the posts it did not learn from), counted per hour or per day. "
        "Times come from each post's `created_at`, or else from its tweet id, which holds the moment it was posted."
    )
    reliability_badge(run)  # the counts are the model's answers, only as good as the model
    events = [situation.ALL_EVENTS] + sorted(e for e in frame["event"].unique() if e)
    event = st.selectbox(
        "Event",
        events,
        key=EVENT,
        format_func=lambda e: "All events together" if e == situation.ALL_EVENTS else pretty(e),
    )
    line = situation.timeline(frame, informative, event)
    if line.counts.empty:
        st.warning(
            "None of these posts has a time: the run's predictions carry no `created_at` and their tweet ids are "
            "not Twitter ids that hold one (a posts file's rows are numbered). Train on CrisisMMD, or on a posts "
            "file with a `tweet_id` column, to see the crisis over time."
        )
        return
    title = f"{task_title(run.task)} answers over time: {pretty(event) if event else 'all events'}"
    st.plotly_chart(situation.figure(line, title), key=PREFIX + "timeline")
    st.caption(situation.caption(line, event))
