"""The provider emulator every system of the peers bench talks to, as its own process.

The same answer at the same pace for every request, whatever the prompt: GalaxyCo sends a
system prompt, n8n and Langflow send theirs, and none of that may change what comes back
(the stock emulator echoes the user's message). Everything else, the OpenAI wire format
included, is ``galaxyco_ui.devtools.emulator``.

    .venv/bin/python -m bench.peers.emulator --port 8790 [--tokens-per-second 50]
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from galaxyco_ui.devtools.emulator import Emulator, RecordedRequest
from galaxyco_ui.devtools.script import Script, TextStep
from galaxyco_ui.devtools.wire import Turn

ANSWER = (
    "Hello from the provider emulator. This is the same answer for every system under test, "
    "streamed word by word through the OpenAI wire format, so that any difference is the platform."
)


class FixedAnswerEmulator(Emulator):
    """Answers every chat request with ``ANSWER`` at ``tokens_per_second`` (None: instantly)."""

    def __init__(self, host: str, port: int, tokens_per_second: float | None) -> None:
        super().__init__(host, port)
        self._script = Script([TextStep(ANSWER)], tokens_per_second=tokens_per_second)

    def _next_script(self, model: str, turns: list[Turn]) -> Script:
        return self._script

    def _record(self, request: RecordedRequest) -> None:
        """Keep nothing: a bench sends thousands of requests and nobody reads them back."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens-per-second", type=float, default=None, help="pace; default instant")
    args = parser.parse_args()
    with FixedAnswerEmulator(args.host, args.port, args.tokens_per_second) as emulator:
        print(f"peers emulator on {emulator.openai_base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()  # until SIGINT; the bench ends the process group


if __name__ == "__main__":
    main()
