"""A prompt-injected answer is rendered inertly, live and after a reload: no HTML element it
names reaches the page, no javascript:/data: link, no request to a host it names, and the
answer's citation links still lead to their passages."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import knowledge, provider_keys
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_agent, make_team, make_user

PHRASE = "heliotrope turbine calibration"
REL = {"noopener", "noreferrer", "nofollow"}


class _Counter(ThreadingHTTPServer):
    daemon_threads = True
    paths: list[str]


class _CountingHandler(BaseHTTPRequestHandler):
    server: _Counter

    def _count(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    do_GET = do_POST = do_HEAD = _count

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def beacon() -> Iterator[_Counter]:
    """A local server standing in for the attacker's host: it records every request."""
    server = _Counter(("127.0.0.1", 0), _CountingHandler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _payload(host: str) -> str:
    return "\n\n".join(
        [
            "The turbine must be recalibrated every six months [1].",
            "<iframe srcdoc=\"<script>parent.document.title='pwned-iframe'</script>\"></iframe>",
            "<script>document.title='pwned-script'</script>",
            f"<img src=http://{host}/img-pixel onerror=\"document.title='pwned-img'\">",
            f"![tracking pixel](http://{host}/md-image)",
            "![inline svg](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
            "[click me](javascript:alert(1)) and [shout](JaVaScRiPt:alert(2)) and [tabbed](<java\tscript:alert(3)>)",
            "[as data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) and [old vb](vbscript:msgbox(1))",
            f"[a file](file:///etc/passwd) and [protocol relative](//{host}/proto)",
            "[by reference][evil]\n\n[evil]: javascript:alert(4)",
            f'<a href="http://{host}/raw-anchor">raw anchor</a>',
            f"See <http://{host}/autolink> and [mail us](mailto:help@example.com).",
            "Payloads end here.",
        ]
    )


def _check_inert(page: Page, beacon: _Counter, host: str) -> None:
    timeline = page.locator("#run-timeline")
    answer = timeline.locator(".gx-answer").last
    expect(answer).to_contain_text("Payloads end here.")
    # Raw HTML is text that the user can read, not elements.
    expect(timeline.locator("iframe, script, img, object, embed")).to_have_count(0)
    expect(page.locator("iframe")).to_have_count(0)
    expect(answer).to_contain_text("<script>document.title='pwned-script'</script>")
    expect(answer.get_by_role("link", name="raw anchor")).to_have_count(0)
    # No dangerous URL anywhere in the document.
    urls = page.evaluate(
        """() => Array.from(document.querySelectorAll('[href], [src], [action], [formaction]'))
                 .flatMap(e => ['href', 'src', 'action', 'formaction'].map(a => e.getAttribute(a)))
                 .filter(v => v !== null)"""
    )
    bad = [u for u in urls if re.match(r"\s*(javascript|data|vbscript|file):|\s*[/\\]{2}", u, re.I)]
    assert bad == [], bad
    # Unsafe links are plain text; safe ones open safely.
    for name in ("click me", "shout", "tabbed", "as data", "old vb", "a file", "protocol relative"):
        expect(answer.get_by_role("link", name=name)).to_have_count(0)
        expect(answer).to_contain_text(name)
    expect(answer.get_by_role("link", name="by reference")).to_have_count(0)
    autolink = answer.get_by_role("link", name=f"http://{host}/autolink")
    expect(autolink).to_have_attribute("href", f"http://{host}/autolink")
    expect(autolink).to_have_attribute("target", "_blank")
    assert set((autolink.get_attribute("rel") or "").split()) >= REL
    expect(answer.get_by_role("link", name="mail us")).to_have_attribute("href", "mailto:help@example.com")
    # A Markdown image is a link the user may click, never a fetch.
    image = answer.get_by_role("link", name="Image: tracking pixel")
    expect(image).to_have_attribute("href", f"http://{host}/md-image")
    expect(image).to_have_attribute("target", "_blank")
    assert set((image.get_attribute("rel") or "").split()) >= REL
    expect(image).to_contain_text("tracking pixel")
    expect(answer.get_by_role("link", name="Image: inline svg")).to_have_count(0)
    expect(answer).to_contain_text("inline svg")
    # The citation stays a same-tab link to its passage.
    citation = answer.get_by_role("link", name="[1]")
    expect(citation).to_have_attribute(
        "href", re.compile(r"^/knowledge/items/[0-9a-f]{32}\?chunk=\d+#chunk-\d+$")
    )
    assert citation.get_attribute("target") is None
    assert "pwned" not in page.title()
    page.wait_for_timeout(500)  # anything the page would fetch has been asked for by now
    assert beacon.paths == []


def test_an_injected_answer_renders_inertly_live_and_after_reload_and_citations_still_work(
    new_context, tmp_path, emulator, beacon
):
    host = f"127.0.0.1:{beacon.server_address[1]}"
    team = make_team("Acme")
    provider_keys.set_provider_key(
        ctx=team.owner,
        provider="openai_compatible",
        api_key="e2e-key-9012",
        base_url=emulator.openai_base_url,
    )
    member = make_user(name="Mia Member", email="mia@example.com", personal=False)
    ctx = add_member(team.workspace_id, Role.MEMBER, user=member)
    collection = knowledge.create_collection(ctx=ctx, data={"name": "Manuals"}).id
    agent = make_agent(
        ctx,
        name="Field assistant",
        provider="openai_compatible",
        model="llama3.1",
        tools=[],
        knowledge_collection_ids=[collection],
    )
    manual = tmp_path / "turbine-manual.md"
    manual.write_text(f"# Maintenance\n\nThe {PHRASE} must be repeated every six months.\n")

    page = new_context().new_page()
    sign_in(page, email="mia@example.com", password=PASSWORD)
    wait_for_shell(page)
    page.goto(f"/knowledge/{collection}")
    page.locator(".gx-dropzone input[type=file]").set_input_files(str(manual))
    expect(page.get_by_text("Ready", exact=True)).to_be_visible(timeout=60_000)

    emulator.enqueue(Script([tool_call("knowledge_search", {"query": "turbine calibration"}), usage(30, 8)]))
    emulator.enqueue(
        Script(
            [
                text(_payload(host), tokens_per_second=200),
                text(" Still typing" + " ..." * 80, tokens_per_second=8),
                usage(90, 20),
            ]
        )
    )
    page.goto(f"/agents/{agent.id}")
    page.get_by_label("Input", exact=True).fill("When is the turbine recalibrated?")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    run_url = page.url

    # Live: the payload has streamed in, the answer is still being written.
    _check_inert(page, beacon, host)
    expect(page.get_by_text("running").first).to_be_visible()
    shot(page, "45-run-injected-answer")

    # Finished, and read again from the database.
    expect(page.get_by_text("succeeded").first).to_be_visible(timeout=30_000)
    page.goto(run_url)
    expect(page.get_by_text("succeeded").first).to_be_visible()
    _check_inert(page, beacon, host)

    page.locator("#run-timeline .gx-answer").last.get_by_role("link", name="[1]").click()
    expect(page).to_have_url(re.compile(r"/knowledge/items/[0-9a-f]{32}\?chunk=\d+#chunk-\d+$"))
    expect(page.locator(".gx-chunk-selected")).to_contain_text(PHRASE)
    assert beacon.paths == []
