"""The CrisisLens dashboard's code, beside app.py and pages/ (one thin file per page).

routing.py           the pages; app.py's set-up (names first, a loading notice) and the page it runs
views/               each page's body, one module per page, named as its address, each with show(state):
                     overview, browse, situation, analyse, attention, review, guide
state.py             which run and data are shown (sidebar, environment, demo default); persistent inputs
first_start.py       training the demo models on the first start, with a progress bar
links.py             the task and the open post in the address, so a link shows what the analyst sees
loaders.py           cached models, tables, images and explanations
widgets.py           answer cards, a post's text as written, the explanation of one post, guarded actions
post_view.py         Browse's table, the post picked from it and its photo (Browse and Review)
review_desk.py       Review's corrections database, reviewer, place in the queue and clicks
retraining.py        the Overview's view of a run trained from reviewers' corrections
reliability.py       each model's verdict (reliable / weak / untested) from its test scores
agreement.py         answers of one post that contradict each other (no Streamlit)
model_cards.py       the Overview's model card, score tables and ablation
figures.py           the dataset's and the runs' Plotly figures, and every figure's caption (no Streamlit)
post_figures.py      the Plotly figures of one post's answer and explanation (no Streamlit)
situation.py         the crisis over time: counts per hour or day, its figure and caption (no Streamlit)
browse.py            Browse's one query model over a run's predictions or a scored collection (no Streamlit)
collection.py        a scored collection and its DuckDB browse index (no Streamlit)
duplicate_groups.py  a predictions table's near-duplicate groups, photos hashed under a progress bar
csv_scoring.py       scoring an uploaded posts file (no Streamlit)
export.py            the tables an analyst downloads, as CSV (formula cells defused) or Parquet (no Streamlit)
literal.py           a post's or a visitor's words escaped for Markdown and chart labels (no Streamlit)
names.py             display names of tasks, labels and fusion variants
"""
