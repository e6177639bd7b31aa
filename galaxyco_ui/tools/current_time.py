"""The current date and time in an IANA time zone.

Zones come from the system time zone database through ``zoneinfo`` (``/usr/share/zoneinfo``
on Linux; on a system without one, install the ``tzdata`` package). The clock is
injectable so tests can pin "now" to a date on either side of a daylight-saving change.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.catalog import tool_info

Clock = Callable[[], datetime]

_INFO = tool_info("current_time")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every known zone name, keyed by its lower-case form (read from disk once)."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _load_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the zone called ``name``, accepting any letter case ("europe/paris").

    Raises:
        ToolError: no such zone; the message suggests close names and shows the format.
    """
    candidates = [name, _zone_names().get(name.lower(), "")]
    for candidate in filter(None, candidates):
        try:
            return zoneinfo.ZoneInfo(candidate)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            continue
    close = difflib.get_close_matches(name, _zone_names().values(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ToolError(
        f"Unknown time zone {name!r}.{hint} Use an IANA time zone name such as "
        "'America/New_York', 'Europe/Paris' or 'UTC'."
    )


def _format_offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


class CurrentTimeTool(Tool):
    """Tells the model the current local time, UTC offset and weekday in a zone."""

    name = _INFO.name
    description = (
        f"{_INFO.description} Returns the local date and time (ISO 8601), the UTC offset "
        "(daylight saving included), the weekday and the zone abbreviation."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name, e.g. 'Europe/Paris' or 'America/New_York'. Default: UTC.",
                "maxLength": 64,
            }
        },
        "additionalProperties": False,
    }
    timeout_seconds = 5.0
    max_result_chars = 1_000

    def __init__(self, clock: Clock = _utc_now) -> None:
        """Create the tool.

        Args:
            clock: returns the current time as an aware datetime (tests pin it).
        """
        self._clock = clock

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Return the time in ``arguments["timezone"]`` (default UTC).

        Raises:
            ToolError: the zone name is unknown.
        """
        zone = _load_zone(arguments.get("timezone") or "UTC")
        now = self._clock().astimezone(zone).replace(microsecond=0)
        offset = _format_offset(now.utcoffset())
        weekday = now.strftime("%A")
        abbreviation = now.tzname() or ""
        if abbreviation[:1] in "+-" or abbreviation == zone.key:
            abbreviation = ""  # "+11" or "UTC" would only repeat the offset or the zone
        content = (
            f"{now.isoformat()} ({weekday}) in {zone.key}, UTC offset {offset}"
            + (f", {abbreviation}" if abbreviation else "")
            + ("" if not now.dst() else " (daylight saving time)")
        )
        return ToolResult(
            content=content,
            data={
                "timezone": zone.key,
                "iso": now.isoformat(),
                "utc_offset": offset,
                "weekday": weekday,
                "abbreviation": abbreviation,
            },
        )
