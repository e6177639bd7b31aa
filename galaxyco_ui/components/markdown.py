"""Markdown that someone else wrote: model answers, and any user- or document-supplied text.

``untrusted_markdown(source)`` is the only way the app renders Markdown. ``rx.markdown``
would parse raw HTML (rehype-raw) and let an answer that a prompt injection shaped put
``<iframe srcdoc>``, ``<img src>`` or ``<script>`` into the page of everyone who opens the
run. This component renders with react-markdown 10 (the library behind ``rx.markdown``)
under these rules, all enforced in the browser on the parsed tree, so every Markdown link
syntax (inline, reference, autolink, GFM literal, footnote) goes through them:

- **No raw HTML.** rehype-raw is not loaded; react-markdown turns each raw HTML node into
  plain text, so ``<script>`` shows as the characters a user can read, never as an element.
- **Safe URL schemes only.** react-markdown's ``urlTransform`` (applied to every URL
  attribute: href, src, ...) is ``gxSafeUrl`` below. It first normalises the URL as a
  browser would (drops tab/CR/LF anywhere, strips leading and trailing control characters
  and spaces), then keeps only ``http:``, ``https:``, ``mailto:``, root-relative paths
  (``/knowledge/items/<id>?chunk=3#chunk-3``, the citations from ``link_citations``),
  ``#fragment`` and ``?query``. Everything else - ``javascript:``, ``data:``,
  ``vbscript:``, ``file:``, protocol-relative ``//host`` and its ``/\\host`` and ``\\\\host``
  spellings, path-relative URLs - is dropped, and the link renders as plain text.
- **Links open safely.** Every link carries ``rel="noopener noreferrer nofollow"``;
  absolute ones (http, https, mailto) open in a new tab, relative ones in the same tab.
- **No remote images.** A Markdown image is never loaded: it renders as a link, an image
  icon and the alt text (named "Image: alt text" for screen readers, the URL as its
  tooltip), to its URL when the scheme is safe, otherwise as that text alone, so
  nothing is fetched unless the user clicks. The model cannot use an image to beacon out
  the conversation or the reader's address. (Proxying through an allowlist was the
  alternative; no feature needs inline images, so the simpler rule wins.)

GFM (tables, strike-through, task lists, autolinks) and KaTeX math stay on, as with
``rx.markdown``; KaTeX runs with ``trust: false`` (its default), so ``\\href`` and
``\\includegraphics`` render as error text. Text that is not Markdown (tool results,
chunks, descriptions) is rendered as plain text elsewhere, which React escapes.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.components.component import Component, field
from reflex_base.vars.base import Var
from reflex_base.vars.sequence import LiteralArrayVar
from reflex_components_markdown.markdown import Markdown, Plugin

REL = "noopener noreferrer nofollow"

# Module-level JavaScript for the page. A test runs it under Node, so keep it standalone.
SAFE_URL_JS = r"""
function gxSafeUrl(value) {
  const url = String(value ?? "")
    .replace(/[\t\n\r]/g, "")
    .replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "");
  if (/^(https?|mailto):/i.test(url)) return url;
  if (/^\/(?![\/\\])/.test(url) || /^[#?]/.test(url)) return url;
  return undefined;
}
"""

_CHILDREN: Var[str] = Var(_js_expr="children", _var_type=str)
_HREF: Var[str] = Var(_js_expr="props.href", _var_type=str)
_SRC: Var[str] = Var(_js_expr="props.src", _var_type=str)
_ALT: Var[str] = Var(_js_expr='(props.alt || "image")', _var_type=str)
_IMAGE_NAME: Var[str] = Var(_js_expr='("Image: " + (props.alt || "untitled"))', _var_type=str)
_TITLE: Var[str] = Var(_js_expr="props.title", _var_type=str)


def _new_tab(url: Var) -> Var:
    # gxSafeUrl has already vetted the URL: it is either absolute (http/https/mailto) or
    # starts with / # ?.
    return Var(_js_expr=f'(/^[\\/#?]/.test({url} ?? "") ? undefined : "_blank")', _var_type=str)


def _link(children: Any, **_: Any) -> Component:
    return rx.cond(
        _HREF,
        rx.link(children, href=_HREF, title=_TITLE, target=_new_tab(_HREF), rel=REL, as_child=False),
        rx.text.span(children),
    )


def _image(*_: Any, **__: Any) -> Component:
    def label() -> tuple[Component, Var]:
        return rx.icon("image", size=14, aria_hidden="true", class_name="gx-md-image-icon"), _ALT

    return rx.cond(
        _SRC,
        rx.link(
            *label(),
            href=_SRC,
            title=_SRC,  # where it leads, before the user decides to open it
            aria_label=_IMAGE_NAME,
            target=_new_tab(_SRC),
            rel=REL,
            as_child=False,
            class_name="gx-md-image",
        ),
        rx.text.span(*label(), class_name="gx-md-image"),
    )


class _UntrustedMarkdown(Markdown):
    """react-markdown with a URL allowlist; see the module docstring."""

    url_transform: Var[Any] = field(doc="react-markdown's urlTransform(url, key, node).")

    def add_custom_code(self) -> list[str]:
        return [SAFE_URL_JS]

    def get_component(self, tag: str, **props: Any) -> Component:
        if tag in ("a", "img"):
            # Build these from the vetted props alone: the base class spreads every
            # attribute of the node onto the element.
            return self.component_map[tag](_CHILDREN, **props)
        return super().get_component(tag, **props)


def untrusted_markdown(source: str | Var[str], **props: Any) -> Component:
    """Markdown from a model, a user or a document, rendered without HTML or unsafe URLs.

    Args:
        source: The Markdown text (a state var or a string).
        **props: Props for the wrapping box, e.g. ``class_name="gx-answer"``.

    Returns:
        A box holding the rendered Markdown.
    """
    return rx.box(
        _UntrustedMarkdown.create(
            source,
            component_map={"a": _link, "img": _image},
            remark_plugins=LiteralArrayVar.create([Plugin.math, Plugin.gfm]),
            rehype_plugins=LiteralArrayVar.create([Plugin.katex]),
            url_transform=Var(_js_expr="gxSafeUrl"),
        ),
        **props,
    )
