"""Open every page of the built site in headless Chromium; fail on missing pages, broken links and images,
and on error outputs. Screenshots are kept under _build/screenshots (CI keeps them as artefacts)."""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

from ocbook.paths import REPO

SITE = REPO / "_build" / "html"
SHOTS = REPO / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ERROR_SELECTORS = [".output.traceback", ".output.stderr", ".cell_output .traceback", "div.output.error"]


def toc_pages() -> list[str]:
    """Every page _toc.yml lists, as paths relative to the site."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return [f"{page}.html" for page in pages]


def test_every_toc_page_was_built():
    assert SITE.exists(), "no site: run `make book` (or `make site`) first"
    missing = [page for page in toc_pages() if not (SITE / page).exists()]
    assert missing == []


@pytest.fixture(scope="module")
def server():
    """The built site on a free localhost port."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by the distribution's chromedriver (no downloads)."""
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (.ci/run installs them)")
        pytest.skip("install chromium and chromium-driver (apt) to run the browser check")
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def site_pages() -> list[str]:
    """Every HTML page of the site (the search and index pages included)."""
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


def local_target(base: str, href: str, server: str) -> tuple[Path, str] | None:
    """The file and fragment an internal link points at, or None for external links."""
    url = urljoin(base, href)
    if not url.startswith(server):
        return None
    parsed = urlparse(url)
    path = unquote(parsed.path.lstrip("/")) or "index.html"
    if path.endswith("/"):
        path += "index.html"
    return SITE / path, parsed.fragment


@pytest.mark.parametrize("page", site_pages() if SITE.exists() else [])
def test_page_renders_without_broken_links_images_or_errors(page, server, browser):
    browser.get(server + page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / (page.replace("/", "__") + ".png")))
    assert browser.execute_script("return document.readyState") == "complete"
    broken_images = browser.execute_script(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert broken_images == []
    for selector in ERROR_SELECTORS:
        assert browser.find_elements("css selector", selector) == [], f"error output ({selector}) on {page}"
    body = browser.find_element("tag name", "body").text
    assert "Traceback (most recent call last)" not in body
    broken = []
    links = browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    for href in links:
        if href.startswith(("mailto:", "javascript:")):
            continue
        target = local_target(browser.current_url, href, server)  # index.html redirects to the root page
        if target is None:
            continue
        path, fragment = target
        if not path.exists():
            broken.append(href)
        elif fragment and path.suffix == ".html" and f'id="{fragment}"' not in path.read_text(errors="replace"):
            broken.append(href)
    assert broken == [], f"broken internal links on {page}"
