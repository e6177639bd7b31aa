"""Developer tools that are not part of the running product (the provider emulator)."""

from galaxyco_ui.devtools.emulator import Emulator, RecordedRequest
from galaxyco_ui.devtools.script import Script, text, tool_call, usage

__all__ = ["Emulator", "RecordedRequest", "Script", "text", "tool_call", "usage"]
