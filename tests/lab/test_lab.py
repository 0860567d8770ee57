"""`make lab` as a reader uses it: chapter 1 opened as a notebook in headless Chromium, run twice through the
Run menu, checked for errors and figures, saved, and unchanged on disk. Screenshots: _build/screenshots/lab-*.png."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from ocbook.endpoints import DEFAULT, answers, explicit
from ocbook.paths import LAUNCHER, REPO
from tests.site.test_site import SHOTS, browser  # noqa: F401 (the site check's headless Chromium fixture)

CHAPTER = "chapters/01_collaboration_styles.md"
FIGURE_CALL = re.compile(r"\bob\.(diagrams|plots)\.\w+\(")
STARTUP_TIMEOUT = 240  # `make lab` checks the venvs and may start the engine first
RUN_TIMEOUT = 300
ERRORS = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
PROMPTS = "return [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent)"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def code_cells(path: Path) -> list[str]:
    """The sources of a chapter's code cells, in order."""
    return [cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` on a spare port (Lab's settings and workspace in a temp dir); stopped, with its engine, at the end."""
    engine_was_up = bool(explicit()) or answers(DEFAULT)
    for old in SHOTS.glob("lab-*.png"):  # no stale failure screenshot next to this run's
        old.unlink()
    home = tmp_path_factory.mktemp("lab")
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"))
    process = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_PORT={free_port()}"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in process.stdout], daemon=True).start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = None
        while url is None and time.monotonic() < deadline and process.poll() is None:
            url = next((line.split("JupyterLab: ", 1)[1].strip() for line in list(lines)
                        if line.startswith("[lab] JupyterLab: ")), None)
            time.sleep(0.2)
        if url is None:
            pytest.fail("`make lab` printed no URL:\n" + "".join(lines[-30:]))
        yield url
    finally:
        stop_group(process)
        if not engine_was_up and answers(DEFAULT):
            subprocess.call([sys.executable, str(LAUNCHER), "stop"])
            pytest.fail("JupyterLab stopped but the engine `make lab` started was still running")


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to make, ocbook.lab and Lab (Lab shuts its kernels down, ocbook.lab then the engine); then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:  # the group outlives make: wait until its last process is gone
            process.poll()  # reap make, or its zombie keeps the group alive
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def shot(driver, name: str) -> None:
    """Keep a screenshot with the other browser artefacts."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"lab-{name}.png"))


def open_notebook(driver, lab: str, path: str, code_cell_count: int) -> None:
    """Open a file in a fresh workspace; wait for its cells and for its kernel to be idle."""
    driver.get(lab.replace("/lab?", f"/lab/tree/{path}?reset&"))
    WebDriverWait(driver, 60).until(lambda d: len(d.execute_script(PROMPTS)) == code_cell_count)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '.jp-Notebook-ExecutionIndicator[data-status="idle"]'))


def run_all(driver, code_cell_count: int) -> list[str]:
    """Run > Run All Cells; wait until no cell is queued or running and the kernel is idle; the prompts."""
    before = driver.execute_script(PROMPTS)
    for _ in range(3):  # a click that lands while the menu is still opening is dropped: look, then try again
        driver.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, '.lm-Menu-item[data-command="runmenu:run-all"]:not(.lm-mod-disabled)'))[0].click()
        try:
            WebDriverWait(driver, 5).until(lambda d: d.execute_script(PROMPTS) != before)
            break
        except TimeoutException:
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # close the menu if it is still open

    def finished(d) -> list[str] | None:
        prompts = d.execute_script(PROMPTS)
        idle = d.find_elements(By.CSS_SELECTOR, '.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        done = prompts != before and len(prompts) == code_cell_count and not any("*" in p for p in prompts)
        return prompts if idle and done else None

    return WebDriverWait(driver, RUN_TIMEOUT, poll_frequency=0.5).until(finished)


def check_run(driver, sources: list[str], prompts: list[str]) -> None:
    """Every code cell ran without error output; every figure cell shows its figure; the last cells tore down."""
    errors = [e.get_attribute("textContent")[:400] for e in driver.find_elements(By.CSS_SELECTOR, ERRORS)]
    assert errors == [], "error output in the notebook"
    assert [p for p in prompts if not re.fullmatch(r"\[\d+\]:", p.strip())] == [], "cells that did not run"
    cells = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
    figures = [i for i, source in enumerate(sources) if FIGURE_CALL.search(source)]
    assert figures, "positive control: chapter 1 draws figures"
    missing = [sources[i].strip().splitlines()[-1] for i in figures if not driver.execute_script(
        "const out = arguments[0].querySelector('.jp-OutputArea');"
        "return [...out.querySelectorAll('svg g, img')].some(e => e.tagName !== 'IMG' || e.naturalWidth > 0);",
        cells[i])]
    assert missing == [], "figure cells without a rendered figure"
    teardown = next(i for i, source in enumerate(sources) if "deployment.teardown()" in source)
    assert "teardown problems: none" in cells[teardown].get_attribute("textContent")


def test_chapter_runs_in_lab_twice_and_saves_unchanged(lab, browser):  # noqa: F811
    chapter = REPO / CHAPTER
    sources = code_cells(chapter)
    original = chapter.read_bytes()
    clean = git_diff().returncode == 0  # a reader's own edits in chapters/ are not Lab's doing
    try:
        open_notebook(browser, lab, CHAPTER, len(sources))
        shot(browser, "01-opened")
        sessions = json.load(urllib.request.urlopen(lab.replace("/lab?", "/api/sessions?"), timeout=10))
        assert [(s["path"], s["kernel"]["name"]) for s in sessions] == [(CHAPTER, "python3")]

        for run in ("run", "rerun"):  # the second Run All, in the same kernel, is the reader running it again
            prompts = run_all(browser, len(sources))
            shot(browser, f"01-{run}")
            check_run(browser, sources, prompts)

        before = chapter.stat().st_mtime_ns
        browser.find_element(By.CSS_SELECTOR, ".jp-Notebook .jp-InputPrompt").click()
        ActionChains(browser).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
        WebDriverWait(browser, 30).until(lambda d: chapter.stat().st_mtime_ns != before
                                         and not d.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-dirty"))
        shot(browser, "01-saved")
    except Exception:
        shot(browser, "failure")
        raise
    assert chapter.read_bytes() == original, f"saving from JupyterLab changed the chapter:\n{git_diff().stdout[:3000]}"
    if clean:
        assert git_diff().returncode == 0, git_diff().stdout[:3000]


def git_diff() -> subprocess.CompletedProcess:
    """`git diff --exit-code chapters/`."""
    return subprocess.run(["git", "diff", "--exit-code", "--", "chapters/"], cwd=REPO, capture_output=True, text=True)


def test_progress_bars_render_as_widgets(lab, browser):  # noqa: F811
    scratch = REPO / "_build" / "lab-check" / "progress.ipynb"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    source = 'from tqdm.auto import tqdm\n\nfor _ in tqdm(range(3), desc="trips"):\n    pass'
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}), scratch)
    try:
        open_notebook(browser, lab, scratch.relative_to(REPO).as_posix(), 1)
        run_all(browser, 1)
        widget = WebDriverWait(browser, 30).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, ".jp-OutputArea-output .widget-hprogress"))
        shot(browser, "progress")
    except Exception:
        shot(browser, "progress-failure")
        raise
    assert widget and browser.find_elements(By.CSS_SELECTOR, ERRORS) == []  # no text fallback, no warning on stderr
    assert "trips" in browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output").get_attribute("textContent")
