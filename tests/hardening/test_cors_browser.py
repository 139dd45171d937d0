"""`allowed_origins` in a real browser (issue 16, item 11): headless Chromium loads a page from an allowed
origin and from another one; each page's script POSTs a keyed chat request to the gateway and to a
project port, as a web app would. Skipped where Chromium is not installed (CI does not install it:
test_cors.py checks the same headers with raw HTTP).
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hardening import MASTER_KEY, config_text, figure, gateway_and_project, with_allowed_origin
from tests.support.ports import free_port
from tests.support.upstream.observing import ObservingUpstream

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((found for name in BROWSERS if (found := shutil.which(name))), None)
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")]

PAGE = """<html><body>waiting<script>
const calls = [["gateway", %(gateway)d, true], ["project", %(project)d, false]].map(([where, port, keyed]) =>
  fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: Object.assign({"Content-Type": "application/json"}, keyed ? {"Authorization": "Bearer %(key)s"} : {}),
    body: JSON.stringify({model: "gpt-4o", messages: [{role: "user", content: "hi"}], max_tokens: 5}),
  }).then(r => r.json().then(j => `${where}=${r.status}:${j.choices ? "answer" : "error"}`))
    .catch(e => `${where}=blocked:${e.name}`));
Promise.all(calls).then(results => { document.body.innerText = "done " + results.join(" "); });
</script></body></html>"""


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    folder = tmp_path_factory.mktemp("pages")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], folder
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def ports(
    upstream: ObservingUpstream, page_server: tuple[int, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    allowed = f"http://localhost:{page_server[0]}"  # the page from 127.0.0.1 is another origin
    config = with_allowed_origin(config_text(upstream.url, master_key=MASTER_KEY), allowed)
    with gateway_and_project(tmp_path_factory.mktemp("browser-home"), upstream.url, "browser", config) as ports:
        yield ports


def _page_says(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
    args += ["--virtual-time-budget=20000", "--dump-dom", url]
    dom = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    return dom.split("<body>", 1)[-1].split("</body>", 1)[0].strip()


BUG = pytest.mark.regression(reason="BUG: allowed_origins could not work in a browser: every fetch was blocked")


@pytest.mark.parametrize(
    "host", [pytest.param("localhost", id="allowed-origin", marks=BUG), pytest.param("127.0.0.1", id="other-origin")]
)
def test_a_page_can_call_only_from_an_allowed_origin(
    ports: dict[str, int], page_server: tuple[int, Path], tmp_path: Path, host: str
) -> None:
    page_port, folder = page_server
    (folder / "app.html").write_text(PAGE % {**ports, "key": MASTER_KEY})
    said = _page_says(f"http://{host}:{page_port}/app.html", tmp_path / "profile")
    figure("test_cors_browser", origin=f"http://{host}:{page_port}", page=said)
    if host == "localhost":
        assert said == "done gateway=200:answer project=200:answer"
    else:  # the browser refuses to hand the page an answer without CORS headers naming its origin
        assert said == "done gateway=blocked:TypeError project=blocked:TypeError"
