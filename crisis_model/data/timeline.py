"""When a post was made: its `created_at`, or the time inside its tweet id.

CrisisMMD has no time column, but tweet ids are Twitter snowflakes: the bits above the lowest 22
are the milliseconds since TWITTER_EPOCH_MS (2010-11-04 01:42:54.657 UTC). Ids from before
snowflakes (sequential numbers) and ids that are not numbers give no time (NaT).
"""

from __future__ import annotations

import pandas as pd

TWITTER_EPOCH_MS = 1288834974657
TIMESTAMP_SHIFT = 22  # the lowest 22 bits are the worker and sequence numbers
# A snowflake decodes to at least a day after the epoch (snowflakes came into use on 2010-11-04);
# the sequential ids before them (up to about 3e10) decode to the epoch's first seconds.
FIRST_SNOWFLAKE_MS = TWITTER_EPOCH_MS + 24 * 3600 * 1000
MAX_SNOWFLAKE = 2**63 - 1


def snowflake_ms(tweet_id: int) -> int:
    """Unix milliseconds of a snowflake id (no check that it is one)."""
    return (tweet_id >> TIMESTAMP_SHIFT) + TWITTER_EPOCH_MS


def make_snowflake(unix_ms: int, sequence: int = 0) -> int:
    """The smallest-worker snowflake id of a post made at `unix_ms` (synthetic ids, tests)."""
    return ((unix_ms - TWITTER_EPOCH_MS) << TIMESTAMP_SHIFT) | (sequence & (2**TIMESTAMP_SHIFT - 1))


def snowflake_times(tweet_ids: pd.Series) -> pd.Series:
    """The UTC time of each tweet id (strings or numbers); NaT where it is no snowflake."""
    millis = []
    for value in tweet_ids.astype(str):
        value = value.strip()
        number = int(value) if value.isdigit() and int(value) <= MAX_SNOWFLAKE else None
        ms = snowflake_ms(number) if number is not None else None
        millis.append(ms if ms is not None and ms >= FIRST_SNOWFLAKE_MS else None)
    return pd.to_datetime(pd.Series(millis, index=tweet_ids.index, dtype="Float64"), unit="ms", utc=True)


def post_times(frame: pd.DataFrame) -> pd.Series:
    """Each post's UTC time: its `created_at` where the table has one that parses, else the time in
    its `tweet_id` (or, without that column, in the `post_id`'s "<tweet_id>_<k>")."""
    ids = frame["tweet_id"] if "tweet_id" in frame else frame["post_id"].astype(str).str.split("_").str[0]
    times = snowflake_times(ids)
    if "created_at" in frame:
        given = pd.to_datetime(frame["created_at"].replace("", None), errors="coerce", utc=True, format="mixed")
        times = given.where(given.notna(), times)
    return times


def bucket_size(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """ "h" (hours) for a span of up to three days, else "D" (days): enough bars to see a trend,
    few enough to read each one."""
    return "h" if end - start <= pd.Timedelta(days=3) else "D"
