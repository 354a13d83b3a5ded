"""Post times from tweet ids (Twitter snowflakes) or a created_at column, checked against times
known from elsewhere, and the demo's ids, which must be times on the day its photo folder names."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from crisis_model.data import load_crisismmd
from crisis_model.data.timeline import TWITTER_EPOCH_MS, bucket_size, make_snowflake, post_times, snowflake_times


def test_a_documented_tweet_id_decodes_to_its_published_time():
    # Twitter's Tweet-object documentation shows id 1050118621198921728 with
    # "created_at": "Wed Oct 10 20:19:24 +0000 2018"
    [time] = snowflake_times(pd.Series(["1050118621198921728"]))
    assert time.floor("s") == pd.Timestamp("2018-10-10 20:19:24", tz="UTC")


def test_the_epoch_arithmetic_of_the_issue():
    # the bits above the lowest 22 are milliseconds since 1288834974657 (2010-11-04 01:42:54.657 UTC)
    assert datetime.fromtimestamp(TWITTER_EPOCH_MS / 1000, UTC) == datetime(2010, 11, 4, 1, 42, 54, 657000, tzinfo=UTC)
    one_day = 86_400_000
    tweet_id = (one_day * 1000 << 22) | 0b1011  # 1000 days after the epoch, worker/sequence bits set
    [time] = snowflake_times(pd.Series([tweet_id]))
    assert time == pd.Timestamp("2010-11-04 01:42:54.657", tz="UTC") + pd.Timedelta(days=1000)
    assert make_snowflake(TWITTER_EPOCH_MS + one_day * 1000, sequence=0b1011) == tweet_id


def test_ids_that_are_no_snowflakes_give_no_time():
    times = snowflake_times(pd.Series(["20", "abc", "", "99999999999999999999", "1050118621198921728"]))
    assert times.isna().tolist() == [True, True, True, True, False]


def test_a_created_at_column_wins_over_the_id():
    frame = pd.DataFrame(
        {
            "post_id": ["1050118621198921728_0", "2", "3"],
            "created_at": ["", "2017-08-26T10:00:00Z", "not a time"],
        }
    )
    times = post_times(frame)
    assert times[0].floor("s") == pd.Timestamp("2018-10-10 20:19:24", tz="UTC")  # from the post_id's tweet id
    assert times[1] == pd.Timestamp("2017-08-26 10:00", tz="UTC")
    assert pd.isna(times[2])


def test_short_spans_are_read_by_the_hour_and_long_ones_by_the_day():
    start = pd.Timestamp("2017-09-01", tz="UTC")
    assert bucket_size(start, start + pd.Timedelta(hours=30)) == "h"
    assert bucket_size(start, start + pd.Timedelta(days=9)) == "D"


def test_the_demo_tweets_are_posted_on_the_day_their_photo_folder_names(demo_root):
    posts = load_crisismmd(demo_root, "informative", "agreed")
    times = post_times(posts)
    folder_day = pd.to_datetime(posts["image_path"].str.split("/").str[-2], format="%d_%m_%Y").dt.date
    assert times.notna().all()
    assert (times.dt.date == folder_day).all()
    assert times.dt.hour.nunique() > 12  # spread over the day, not all at midnight
