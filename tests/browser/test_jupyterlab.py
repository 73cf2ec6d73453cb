"""The lab as a learner uses it: JupyterLab in headless Chromium runs notebooks 00 to 03 live, through the UI.

Each notebook is opened from its URL, its stored outputs are cleared (Edit > Clear Outputs of All Cells),
then Run > Run All Cells executes it on the real engine. The page must then show every code cell executed,
in order, with no error output, the lab banner in LIVE mode, and (01 to 03) the build report tables and
their charts. A full-page screenshot of each goes to tests/artifacts/. The notebook is closed with "Discard":
the page must never have asked the server to save, and the file on disk must not have changed.
"""
from __future__ import annotations

import contextlib
import re
import time

import pytest

from tests.browser.conftest import ARTIFACTS, ROOT, VIEWPORT

pytestmark = [pytest.mark.browser, pytest.mark.live]

RUN_TIMEOUT = 180  # seconds for Run All Cells, until every code cell has its execution count and the kernel is idle

# (notebook, expects the build report table, at least this many PNG charts)
NOTEBOOKS = [
    ("00-start-here.ipynb", False, 0),
    ("01-build-run-push.ipynb", True, 2),
    ("02-deploy-a-change.ipynb", True, 3),
    ("03-image-layers.ipynb", True, 5),
]

PANEL = ".jp-NotebookPanel:visible"
_JS_PANEL = "[...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null)"
JS_PROMPTS = f"() => [...({_JS_PANEL})?.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt') ?? []]" \
             ".map(e => e.textContent.trim())"
JS_STATUS = "() => document.querySelector('#jp-main-statusbar')?.textContent ?? ''"
JS_OUTPUTS = f"""() => [...({_JS_PANEL}).querySelectorAll('.jp-OutputArea-output')].map(o => ({{
    mime: o.getAttribute('data-mime-type') || o.querySelector('[data-mime-type]')?.getAttribute('data-mime-type'),
    text: o.innerText,
    tables: o.querySelectorAll('table').length,
    pngs: [...o.querySelectorAll('img')].filter(i => i.src.startsWith('data:image/png'))
                                       .map(i => [i.naturalWidth, i.naturalHeight]),
}}))"""


def lab_error_names() -> list[str]:
    from helpers.errors import LabError

    names, todo = [], [LabError]
    while todo:
        cls = todo.pop()
        names.append(cls.__name__)
        todo += cls.__subclasses__()
    return names


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items (exact labels, as JupyterLab 4 shows them)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def wait_idle(page, server, path: str, timeout: float) -> None:
    """The status bar says Idle and the server's session for ``path`` has an idle kernel."""
    page.wait_for_function(f"() => /\\|\\s*Idle/.test(({JS_STATUS})())", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        states = [s["kernel"]["execution_state"] for s in server.api("sessions") if s["path"] == path]
        if states == ["idle"]:
            return
        assert time.monotonic() < deadline, f"the kernel of {path} is {states}, not idle"
        time.sleep(0.5)


def full_page_screenshot(page, path) -> None:
    """The whole notebook in one image: the window is made as tall as the notebook's content, then restored."""
    scroller = page.locator(f"{PANEL} .jp-WindowedPanel-outer")
    scroller.evaluate("e => { e.scrollTop = 0 }")
    extra = scroller.evaluate("e => e.scrollHeight - e.clientHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(VIEWPORT["height"] + extra + 40, 16000)})
    page.wait_for_timeout(500)  # let the layout settle at the new size
    scroller.evaluate("e => { e.scrollTop = 0 }")
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


def close_without_saving(page) -> None:
    """File > Close Tab; the notebook has unsaved outputs, so JupyterLab asks: Discard."""
    menu(page, "File", "Close Tab")
    discard = page.locator(".jp-Dialog button", has_text="Discard")
    discard.wait_for(timeout=10_000)
    discard.click()
    page.locator(".jp-NotebookPanel").wait_for(state="detached", timeout=10_000)


def cleanup_workspace(live_engine, name: str) -> None:
    """What the notebook created, removed by its label (the notebook's last cell did it already when it ran)."""
    from helpers.lab import Lab
    from helpers.workspace import Workspace

    engine, config = live_engine
    Lab(engine, config, Workspace(name=name)).cleanup()


@pytest.mark.parametrize(("notebook", "has_report", "min_charts"), NOTEBOOKS, ids=[n for n, *_ in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(jupyter, page, live_engine, notebook, has_report, min_charts):
    path = f"notebooks/{notebook}"
    on_disk = (ROOT / path).read_bytes()
    shot = ARTIFACTS / f"browser-{notebook.removesuffix('.ipynb')}.png"
    workspace, passed = None, False
    shot.unlink(missing_ok=True)
    console_errors: list[str] = []
    writes: list[str] = []  # what the page asked the server to write (a save, a new file); checkpoints are fine

    def on_console(message):
        if message.type == "error":
            console_errors.append(message.text)

    def on_request(request):
        if "/api/contents/" in request.url and request.method in ("PUT", "PATCH", "POST", "DELETE") \
                and "/checkpoints" not in request.url:
            writes.append(f"{request.method} {request.url.split('?')[0]}")

    page.on("console", on_console)
    page.on("request", on_request)
    try:
        # ?reset: an empty workspace, so only this notebook opens (not the one the last test closed)
        page.goto(f"{jupyter.url}/lab/tree/{path}?reset&token={jupyter.token}")
        page.locator(f"{PANEL} .jp-CodeCell").first.wait_for(timeout=60_000)
        assert page.locator(".jp-NotebookPanel").count() == 1, "another notebook opened too"
        wait_idle(page, jupyter, path, 60)

        # Stored outputs off first, so everything checked below comes from this run.
        page.locator(f"{PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})
        menu(page, "Edit", "Clear Outputs of All Cells")
        prompts = page.evaluate(JS_PROMPTS)
        assert prompts and set(prompts) == {"[ ]:"}, prompts
        assert page.locator(f"{PANEL} .jp-OutputArea-output").count() == 0

        started = time.monotonic()
        menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(f"() => ({JS_PROMPTS})().every(p => /^\\[\\d+\\]:$/.test(p))",
                                   timeout=RUN_TIMEOUT * 1000)
        except Exception:
            pytest.fail(f"{notebook}: not every code cell ran within {RUN_TIMEOUT} s; prompts "
                        f"{page.evaluate(JS_PROMPTS)}; outputs {[o['text'][:300] for o in page.evaluate(JS_OUTPUTS)]}")
        wait_idle(page, jupyter, path, 30)
        seconds = time.monotonic() - started
        print(f"{notebook}: Run All Cells took {seconds:.1f} s in JupyterLab")

        prompts = page.evaluate(JS_PROMPTS)
        assert prompts == [f"[{n}]:" for n in range(1, len(prompts) + 1)], f"not run once each, in order: {prompts}"
        outputs = page.evaluate(JS_OUTPUTS)
        texts = "\n".join(o["text"] for o in outputs)
        found = re.search(r"workspace (lab-[0-9a-f]{6})", texts)
        workspace = found and found.group(1)
        full_page_screenshot(page, shot)

        errors = [o["text"] for o in outputs if o["mime"] == "application/vnd.jupyter.stderr"
                  and re.search(r"Error|Traceback", o["text"])]
        lab_errors = re.compile(rf"^({'|'.join(lab_error_names())}): |What to do:", re.M)
        errors += [o["text"] for o in outputs if lab_errors.search(o["text"])]
        assert not errors, f"{notebook} shows errors:\n" + "\n---\n".join(errors)
        assert outputs and outputs[0]["text"].startswith("LIVE:"), f"not live: {outputs[:1]}"

        if has_report:
            reports = [o for o in outputs if o["tables"] and "build of" in o["text"] and "reused" in o["text"]]
            assert reports, f"{notebook}: no build report table (a table with 'build of' ... 'reused')"
        charts = [png for o in outputs for png in o["pngs"]]
        assert len(charts) >= min_charts, f"{notebook}: {len(charts)} PNG charts shown, expected >= {min_charts}"
        assert all(w > 0 and h > 0 for w, h in charts), f"{notebook}: a chart image did not load: {charts}"
        passed = True
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("request", on_request)
        # on a failure, tidy up as far as possible without hiding the failure itself
        with contextlib.nullcontext() if passed else contextlib.suppress(Exception):
            if page.locator(PANEL).count():
                if not shot.exists():
                    page.screenshot(path=str(shot))  # whatever the page showed when the test failed
                if workspace is None:  # Run All did not get far enough: the banner may still name it
                    found = re.search(r"workspace (lab-[0-9a-f]{6})", page.locator(PANEL).inner_text())
                    workspace = found and found.group(1)
                close_without_saving(page)
        if workspace:
            cleanup_workspace(live_engine, workspace)
    assert not writes, f"JupyterLab wrote to the server's files: {writes}"
    after = (ROOT / path).read_bytes()
    # byte-equal, unless someone else edited the notebook meanwhile: then at least not with this run's outputs
    saved_ours = workspace and workspace.encode() in after
    assert after == on_disk or not saved_ours, f"{path} was saved with this run's outputs"
    # the offline sandbox fails to load the Binder badge (and sees Docker's network changes): not the lab's fault
    unexpected = [e for e in console_errors if not e.startswith("Failed to load resource: net::")]
    assert not unexpected, f"browser console errors: {unexpected}"


def test_the_file_browser_shows_the_lesson_and_no_news(jupyter):
    """The lab's JupyterLab settings (jupyter/, installed into the environment): no test plumbing among the files,
    no news pop-up."""
    root = {item["name"] for item in jupyter.api("contents")["content"]}
    notebooks = {item["name"] for item in jupyter.api("contents/notebooks")["content"]}
    assert "notebooks" in root and "conftest.py" not in root
    assert "00-start-here.ipynb" in notebooks and not {"conftest.py", "recordings"} & notebooks
    import requests
    news = requests.get(f"{jupyter.url}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                        params={"token": jupyter.token}, timeout=5).json()["schema"]["properties"]
    assert news["fetchNews"]["default"] == "false" and news["checkForUpdates"]["default"] is False  # overrides.json
