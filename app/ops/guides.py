"""The guides of `docs/`, served as HTML by the service itself.

A reader of `/docs` or `/redoc` has the running server, not the repository: the links of
the API description lead here. `/guides/conventions` is the introduction, conventions and
error catalogue of the OpenAPI document as a page of its own. Pages are rendered once per
process (the files do not change while it runs) with markdown-it, links between guides
kept working (`portal-guide.md#x` → `portal-guide#x`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.core.errors import ProblemError
from app.core.openapi import PROBLEM_RESPONSES
from app.openapi import conventions_markdown

# Beside the code in a checkout; in the image, copied to the working directory (Dockerfile),
# as the migrations are (app/core/migrate.py).
_BESIDE = Path(__file__).resolve().parents[2] / "docs"
DOCS_DIR = _BESIDE if _BESIDE.is_dir() else Path.cwd() / "docs"
CONVENTIONS = "conventions"
TAG = "Conventions and errors"
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_LOCAL_MD = re.compile(r"^([a-z0-9][a-z0-9.-]*)\.md(#.*)?$")

router = APIRouter(prefix="/guides", tags=[TAG])


@cache
def guide_names() -> tuple[str, ...]:
    """The served guides: every `docs/*.md`, by file name without `.md`."""
    if not DOCS_DIR.is_dir():
        return ()
    return tuple(sorted(p.stem for p in DOCS_DIR.glob("*.md") if _NAME.match(p.stem)))


def _slug(text: str) -> str:
    """A heading's anchor as GitHub makes it, so that the guides' `#…` links work here."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _markdown() -> MarkdownIt:
    # The guides are this repository's own files: their HTML comments (the test markers of
    # tests/ops/test_guide_examples.py) pass through unseen.
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def anchors_and_links(state: Any) -> None:
        tokens: list[Token] = state.tokens
        for index, token in enumerate(tokens):
            if token.type == "heading_open":
                inline = tokens[index + 1]
                token.attrSet("id", _slug(inline.content))
            for child in token.children or []:
                href = child.attrGet("href") if child.type == "link_open" else None
                if isinstance(href, str) and (local := _LOCAL_MD.match(href)):
                    child.attrSet("href", local.group(1) + (local.group(2) or ""))

    md.core.ruler.push("guide_links", anchors_and_links)
    return md


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Rujukan</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto;
  padding: 1rem 1.5rem 4rem; color: #1b1f24; }}
nav {{ font-size: .9rem; border-bottom: 1px solid #d0d7de; padding-bottom: .5rem; }}
code, pre {{ font: .875rem/1.45 ui-monospace, monospace; background: #f6f8fa; }}
pre {{ padding: .75rem; overflow-x: auto; }}
table {{ border-collapse: collapse; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #d0d7de; padding: .3rem .6rem; vertical-align: top; }}
</style></head>
<body><nav><a href="/guides">Guides</a> · API reference: <a href="/docs">/docs</a>
(Swagger UI) · <a href="/redoc">/redoc</a> · <a href="/openapi.json">/openapi.json</a></nav>
<main>
{body}
</main></body></html>
"""


def _title(source: str, fallback: str) -> str:
    heading = re.search(r"^# (.+)$", source, re.MULTILINE)
    return heading.group(1).strip() if heading else fallback


def _source(name: str) -> str | None:
    if name == CONVENTIONS:
        return conventions_markdown()  # the OpenAPI document's own text
    if name not in guide_names():
        return None
    return (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8")


@cache
def render(name: str) -> str | None:
    """The page of guide `name`, or None when there is no such guide."""
    source = _source(name)
    if source is None:
        return None
    return _PAGE.format(
        lang="id" if name.endswith(".id") else "en",
        title=html.escape(_title(source, name)),
        body=_markdown().render(source),
    )


@cache
def _index() -> str:
    items = [(CONVENTIONS, _title(_source(CONVENTIONS) or "", CONVENTIONS))]
    items += [(name, _title(_source(name) or "", name)) for name in guide_names()]
    listing = "\n".join(
        f'<li><a href="/guides/{name}">{html.escape(title)}</a></li>' for name, title in items
    )
    return _PAGE.format(lang="en", title="Guides", body=f"<h1>Guides</h1>\n<ul>\n{listing}\n</ul>")


_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"example": "<!doctype html>…"}}}
}


@router.get(
    "",
    summary="The guides served by this service",
    description="An HTML page listing the guides (integration guide for prison systems, in "
    "English and Bahasa Indonesia; portal guide; operations guide; data dictionary; "
    "security; benchmarks) and the conventions and error catalogue of this document. No "
    "authentication.",
    response_class=HTMLResponse,
    responses=_HTML,
)
def list_guides() -> HTMLResponse:  # plain def: a first call reads files (threadpool)
    return HTMLResponse(_index())


@router.get(
    "/{name}",
    summary="One guide as a page",
    description="The guide `name` (the file name of the repository's `docs/NAME.md` without "
    "`.md`, e.g. `integration-guide`, `integration-guide.id`, `portal-guide`; "
    "`conventions` for this document's introduction, conventions and error catalogue) "
    "rendered as HTML. An unknown name is a 404 `NOT_FOUND`. No authentication.",
    response_class=HTMLResponse,
    responses={**_HTML, 404: PROBLEM_RESPONSES[404]},
)
def get_guide(name: str) -> HTMLResponse:  # plain def: a first call reads a file
    # Only names that exist reach the cache of pages.
    page = render(name) if name == CONVENTIONS or name in guide_names() else None
    if page is None:
        raise ProblemError("NOT_FOUND")
    return HTMLResponse(page)
