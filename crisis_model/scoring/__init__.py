"""Scoring a whole collection of posts: `python -m crisis_model.score` (crisis_model/score.py).

reader.py      the input file (CSV, JSON Lines, Parquet) in chunks of rows
posts.py       predict_each: predict, with a reason for a post that has nothing to analyse
chunks.py      one chunk scored by every task's model: its rows, its errors, its counts
columns.py     the output's columns          folder.py   the output folder, parts, resume
lock.py        one job writes an output folder at a time
collection.py  score_collection: the chunks of this process, the summary
"""

from crisis_model.scoring.collection import PRECISIONS, ScoreOptions, score_collection

__all__ = ["PRECISIONS", "ScoreOptions", "score_collection"]
