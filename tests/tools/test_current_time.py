"""current_time reports local time, offset and weekday in any IANA zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from galaxyco_ui.tools.base import ToolError
from galaxyco_ui.tools.current_time import CurrentTimeTool

JANUARY = datetime(2025, 1, 15, 12, 0, 30, 123456, tzinfo=UTC)
JULY = datetime(2025, 7, 15, 12, 0, 30, tzinfo=UTC)


async def test_defaults_to_utc(ctx) -> None:
    result = await CurrentTimeTool(clock=lambda: JANUARY).call({}, ctx)
    assert result.content.startswith("2025-01-15T12:00:30+00:00 (Wednesday) in UTC, UTC offset +00:00")
    assert result.data["timezone"] == "UTC"


async def test_new_york_offset_follows_daylight_saving(ctx) -> None:
    winter = await CurrentTimeTool(clock=lambda: JANUARY).call({"timezone": "America/New_York"}, ctx)
    summer = await CurrentTimeTool(clock=lambda: JULY).call({"timezone": "America/New_York"}, ctx)

    assert winter.data["iso"] == "2025-01-15T07:00:30-05:00"
    assert winter.data["utc_offset"] == "-05:00"
    assert winter.data["abbreviation"] == "EST"
    assert winter.data["weekday"] == "Wednesday"
    assert "daylight saving" not in winter.content

    assert summer.data["iso"] == "2025-07-15T08:00:30-04:00"
    assert summer.data["utc_offset"] == "-04:00"
    assert summer.data["abbreviation"] == "EDT"
    assert summer.data["weekday"] == "Tuesday"
    assert "daylight saving" in summer.content


@pytest.mark.parametrize(
    ("zone", "iso", "key"),
    [
        ("Asia/Kolkata", "2025-01-15T17:30:30+05:30", "Asia/Kolkata"),
        ("Asia/Tokyo", "2025-01-15T21:00:30+09:00", "Asia/Tokyo"),
        ("Pacific/Kiritimati", "2025-01-16T02:00:30+14:00", "Pacific/Kiritimati"),
        ("europe/paris", "2025-01-15T13:00:30+01:00", "Europe/Paris"),  # any letter case
    ],
)
async def test_other_zones(ctx, zone: str, iso: str, key: str) -> None:
    result = await CurrentTimeTool(clock=lambda: JANUARY).call({"timezone": zone}, ctx)
    assert result.data["iso"] == iso
    assert result.data["timezone"] == key


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "Europe/Pari", "../etc/passwd", "/etc/passwd", "America"]
)
async def test_unknown_zone_is_an_error_with_an_example(ctx, zone: str) -> None:
    with pytest.raises(ToolError, match="Unknown time zone") as caught:
        await CurrentTimeTool(clock=lambda: JANUARY).call({"timezone": zone}, ctx)
    assert "America/New_York" in caught.value.message


async def test_close_names_are_suggested(ctx) -> None:
    with pytest.raises(ToolError, match="Did you mean 'Europe/Paris'"):
        await CurrentTimeTool().call({"timezone": "Europe/Pari"}, ctx)


async def test_real_clock_is_aware_and_current(ctx) -> None:
    result = await CurrentTimeTool().call({"timezone": "UTC"}, ctx)
    parsed = datetime.fromisoformat(result.data["iso"])
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5
