"""Durations and ages as the console words them (console.platform.timefmt, the console_time filters)."""

from datetime import UTC, datetime, timedelta

from django.template import Context, Template

from console.platform import timefmt

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_under_a_minute_is_seconds_never_zero_minutes():
    assert timefmt.duration(NOW - timedelta(seconds=42), NOW) == "42\xa0seconds"
    assert timefmt.duration(NOW - timedelta(seconds=1), NOW) == "1\xa0second"
    assert timefmt.duration(NOW - timedelta(milliseconds=300), NOW) == "0\xa0seconds"
    # A moment a little in the future (another machine's clock) is no time at all.
    assert timefmt.duration(NOW + timedelta(seconds=3), NOW) == "0\xa0seconds"
    assert timefmt.ago(NOW - timedelta(seconds=59), NOW) == "59\xa0seconds ago"


def test_longer_ones_are_their_largest_unit_or_two():
    started = NOW - timedelta(days=2, hours=4, minutes=5)
    assert timefmt.duration(NOW - timedelta(minutes=5, seconds=30), NOW) == "5\xa0minutes"
    assert timefmt.duration(started, NOW) == "2\xa0days"
    assert timefmt.duration(started, NOW, depth=2) == "2\xa0days, 4\xa0hours"
    assert timefmt.ago(started, NOW) == "2\xa0days ago"


def test_the_template_filters_render_and_stay_quiet_about_missing_values():
    page = Template(
        "{% load console_time %}[{{ arrived|ago }}][{{ started|duration:stopped }}]"
        "[{{ missing|ago }}][{{ text|duration }}]"
    ).render(
        Context(
            {
                "arrived": datetime.now(UTC) - timedelta(minutes=3, seconds=10),
                "started": NOW - timedelta(seconds=12),
                "stopped": NOW,
                "missing": None,
                "text": "not a time",
            }
        )
    )
    assert page == "[3\xa0minutes ago][12\xa0seconds][][]"
