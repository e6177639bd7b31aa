"""The untrusted-Markdown component: its URL allowlist (run under Node, as the browser runs
it) and how it is wired into react-markdown. The browser test is tests/e2e/test_untrusted_markdown.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import reflex as rx

from galaxyco_ui.components.markdown import REL, SAFE_URL_JS, untrusted_markdown

PACKAGE = Path(__file__).resolve().parents[2] / "galaxyco_ui"


def safe_url(urls: list[str]) -> list[str | None]:
    """What gxSafeUrl returns for each URL (None for a dropped one)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is missing (the frontend build needs it too).")
    script = SAFE_URL_JS + (
        "let s = ''; process.stdin.on('data', d => s += d);"
        "process.stdin.on('end', () => console.log(JSON.stringify(JSON.parse(s).map(u => gxSafeUrl(u) ?? null))));"
    )
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(urls), capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(out.stdout)


def test_safe_url_keeps_web_and_mail_links_citations_and_fragments():
    kept = [
        "https://example.com/a?b=1#c",
        "HTTP://EXAMPLE.COM",
        "mailto:help@example.com",
        "/knowledge/items/0123456789abcdef0123456789abcdef?chunk=3#chunk-3",
        "#user-content-fn-1",
        "?page=2",
    ]
    assert safe_url(kept) == kept


def test_safe_url_normalises_like_a_browser_before_deciding():
    assert safe_url([" https://example.com/ ", "ht\ttps://example.com", "\x00/runs"]) == [
        "https://example.com/",
        "https://example.com",
        "/runs",
    ]


def test_safe_url_drops_script_data_file_and_other_host_relative_urls():
    dropped = [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:image/svg+xml,<svg/onload=alert(1)>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://example.com/1",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example/x",
        "/\t/evil.example/x",
        " //evil.example/x",
        "ftp://example.com",
        "relative/path",
        "",
    ]
    assert safe_url(dropped) == [None] * len(dropped)


def test_untrusted_markdown_has_no_raw_html_plugin_and_vets_every_url():
    component = untrusted_markdown(rx.Var("text"), class_name="gx-answer")
    rendered = str(component)
    assert "rehypeRaw" not in rendered
    assert "urlTransform:gxSafeUrl" in rendered
    assert 'className:"gx-answer"' in rendered
    assert SAFE_URL_JS in component._get_all_custom_code()


def test_links_and_images_render_from_vetted_props_only_and_images_never_load():
    [markdown] = untrusted_markdown(rx.Var("text")).children
    component_map = markdown._get_custom_code()
    link = re.search(r'\["a"\] : (.*?), \["code"\]', component_map)[1]
    image = re.search(r'\["img"\] : (.*?), \["pre"\]', component_map)[1]
    for fn in (link, image):
        assert "...props}" not in fn.split("=>", 1)[1]  # no spread of the node's attributes
        assert f'rel:"{REL}"' in fn
        assert "target:(/^[\\/#?]/.test(" in fn
    assert "href:props.href" in link
    assert "href:props.src" in image
    assert 'jsx("img"' not in image and "src:" not in image


def test_no_page_renders_markdown_except_through_untrusted_markdown():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "components" / "markdown.py"
        and re.search(r"\brx\.markdown\b|reflex_components_markdown|react-markdown", path.read_text())
    ]
    assert offenders == []
