"""The CrisisLens dashboard's code, beside app.py and pages/ (which stay thin).

routing.py      the pages, and the state app.py hands to the page it runs
state.py        which run and data are shown (sidebar, environment, demo default)
links.py        the task and the open post in the address, so a link shows what the analyst sees
reliability.py  each model's verdict (reliable / weak / untested) from its test scores
agreement.py    answers of one post that contradict each other (no Streamlit)
guide.py        the "How to read CrisisLens" page
first_start.py  training the demo models on the first start, with a progress bar
loaders.py      cached models, tables, images and explanations
widgets.py      answer cards, the explanation of one post, guarded actions
figures.py      every Plotly figure (no Streamlit)
model_cards.py  the Overview's model card, score tables and ablation
browse.py       Browse's one query model over a run's predictions or a scored collection (no Streamlit)
csv_scoring.py  scoring an uploaded posts file (no Streamlit)
names.py        display names of tasks, labels and fusion variants
"""
