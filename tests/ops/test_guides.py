"""The guides are served by the service itself, and /docs starts with what a reader needs.

A reader of /docs or /redoc has the running server, not the repository: every link of the
API description leads to a page this server answers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from app.core.errors import CATALOGUE
from tests.ops.server import ROOT, Served


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(str(found["href"]))
        if found.get("id"):
            self.ids.add(str(found["id"]))


def _page(served: Served, path: str) -> _Page:
    response = httpx.get(served.base_url + path, timeout=30)
    assert response.status_code == 200, (path, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page = _Page()
    page.feed(response.text)
    return page


def test_the_description_is_short_and_links_to_this_servers_guides(served: Served) -> None:
    document = httpx.get(served.base_url + "/openapi.json", timeout=30).json()
    description = document["info"]["description"]
    # A few lines above the Authorize button, not the introduction and the catalogue.
    assert len(description.splitlines()) <= 12, description
    assert "repository" not in description
    links = re.findall(r"\]\((/[^)]*)\)", description)
    assert {"/guides/integration-guide", "/guides/integration-guide.id"} <= set(links)
    assert {"/guides/portal-guide", "/guides/conventions"} <= set(links)
    for link in links:
        _page(served, link)
    assert document["tags"][-1]["name"] == "Conventions and errors"


def test_every_guide_of_docs_is_a_page_whose_links_work(served: Served) -> None:
    index = _page(served, "/guides")
    names = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    assert {f"/guides/{name}" for name in names} | {"/guides/conventions"} <= set(index.hrefs)
    pages = {name: _page(served, f"/guides/{name}") for name in names}
    for name, page in pages.items():
        for href in page.hrefs:
            target, _, anchor = href.partition("#")
            if target.startswith(("http:", "https:", "/")):
                continue
            # A guide's link to another (`portal-guide.md#x`) leads to that page here.
            assert not target.endswith(".md"), (name, href)
            linked = pages[target] if target else page
            assert not anchor or anchor in linked.ids, (name, href)


def test_the_conventions_page_holds_the_whole_catalogue(served: Served) -> None:
    text = httpx.get(served.base_url + "/guides/conventions", timeout=30).text
    assert "Idempotent-Replayed" in text
    for code in CATALOGUE:
        assert f"<code>{code}</code>" in text, code


def test_an_unknown_guide_is_a_404_problem(served: Served) -> None:
    for name in ("nope", "..%2Fpyproject", "README", "integration-guide.md", ".env"):
        response = httpx.get(f"{served.base_url}/guides/{name}", timeout=30)
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "NOT_FOUND"
