"""Using the app and the README's commands on the shipped demo leaves a checkout's `git status` clean.

The test works in a scratch checkout: the project's files as git sees them (tracked, and untracked
ones it does not ignore), committed into a new repository with the project's own .gitignore. The app
runs there on its default model folder, ``models/demo``, and so do the CLI commands the README shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import WAIT_CEILING_S
from test_browser import (SCRIPT_IDLE, browser, new_context, streamlit_server, url_for, wait_for_cell, wait_for_map,  # noqa: F401
                          wait_until)

pytestmark = [pytest.mark.system, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=bookembed tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]


def scratch_checkout(target: Path) -> Path:
    """The project's files (as git sees them) committed into a fresh repository at ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not name.startswith("tests/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "scratch"], cwd=target, check=True)
    assert status(target) == ""
    return target


def status(checkout: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=checkout,
                          capture_output=True, text=True, check=True).stdout


def settle(pg) -> None:
    wait_until(pg, f"() => {SCRIPT_IDLE} && !!document.querySelector('h1')")


def click_and_settle(pg, locator) -> None:
    locator.click()
    pg.wait_for_timeout(300)  # let the rerun start; settle() then waits for it to end (an event, no guess)
    settle(pg)


@pytest.fixture
def browser_context(browser):
    context = new_context(browser, accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


def test_every_page_and_the_readme_commands_leave_git_status_clean(tmp_path, browser, browser_context):
    checkout = scratch_checkout(tmp_path / "checkout")
    pg = browser_context.new_page()
    with streamlit_server(None, tmp_path / "streamlit.log", cwd=checkout) as base:
        pg.goto(url_for(base, "search", book="War and Peace"))
        wait_for_cell(pg, "Anna Karenina")
        pg.goto(url_for(base, "map"))
        wait_for_map(pg)
        # every method and both dimensions (shipped maps), then a map the demo does not ship
        for label in ("t-SNE", "3-D", "PCA", "2-D"):
            click_and_settle(pg, pg.get_by_text(label, exact=True).first)
        click_and_settle(pg, pg.get_by_text("PCA parameters"))
        click_and_settle(pg, pg.get_by_text("Use unit-length vectors", exact=False))
        click_and_settle(pg, pg.get_by_role("button", name="Apply"))
        wait_for_map(pg)
        click_and_settle(pg, pg.get_by_text("Cluster labels", exact=True))
        save_as = pg.get_by_label("Save the current view as")
        pg.locator("summary", has_text="Saved views").click()
        save_as.wait_for(state="visible")
        saved = pg.get_by_text("View saved", exact=False)
        for _ in range(3):  # as a person would: save, look for the confirmation, save again if none came
            save_as.fill("a view")
            click_and_settle(pg, pg.get_by_role("button", name="Save view"))
            try:
                saved.first.wait_for(state="visible", timeout=5_000)
                break
            except PlaywrightTimeout:
                continue
        for path in ("export", "model", "compare", "train"):
            pg.goto(url_for(base, path))
            settle(pg)
    assert (checkout / "models" / "demo" / "views.json").is_file()  # the page really wrote into the folder
    bookembed = [sys.executable, "-m", "bookembed"]
    for args in (["project", "--model", "models/demo", "--method", "umap", "--dims", "3"],
                 ["project", "--model", "models/demo", "--method", "pca"],
                 ["export", "--model", "models/demo", "--out", "export/", "--tensorboard", "logs/"],
                 ["evaluate", "--model", "models/demo"],
                 ["info", "--model", "models/demo", "--verify"],
                 ["neighbors", "War and Peace", "-k", "5"]):
        done = subprocess.run([*bookembed, *args], cwd=checkout, capture_output=True, text=True,
                              timeout=WAIT_CEILING_S)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    assert (checkout / "export").is_dir() and (checkout / "logs").is_dir()
    assert status(checkout) == ""
