"""The context dashboard as an MCP App: the `ui://` resource, the tool's `_meta`, the page in a browser.

Through a real client: the resource is listed and served as `text/html;profile=mcp-app`,
context_status points at it, and a host without MCP Apps gets the same text as before.
Then the page the server served is loaded in headless Chromium inside a small host page
that speaks the MCP Apps handshake (ui/initialize, initialized, tool-input, tool-result)
and hands it a recorded context_status result: the dashboard draws it, asks for nothing
from the network and logs no error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core.results import StatusResult
from mcp_arena.server import DASHBOARD_URI
from tests.browser import Browser, chromium_path
from tests.helpers import ok, text_of

pytestmark = pytest.mark.anyio
APP_MIME = "text/html;profile=mcp-app"
EXTENSION = "io.modelcontextprotocol/ui"

# A minimal MCP Apps host: the app in an iframe, answering its handshake, then sending the recorded result.
# (A real host sandboxes the iframe in another origin; here it is same-origin so the test can read what it drew.)
HOST = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
</head><body><iframe id="view" style="width:640px;height:520px;border:0"></iframe>
<script>
const APP = __APP__, RESULT = __RESULT__, ARGUMENTS = __ARGUMENTS__;
window.received = [];
const view = document.getElementById("view");
const post = (message) => view.contentWindow.postMessage({jsonrpc: "2.0", ...message}, "*");
window.addEventListener("message", (event) => {
  if (event.source !== view.contentWindow) return;
  const message = event.data;
  window.received.push(message);
  if (message.method === "ui/initialize") {
    post({id: message.id, result: {protocolVersion: message.params.protocolVersion, hostInfo: {name: "test-host", version: "0"},
      hostCapabilities: {}, hostContext: {theme: "light", displayMode: "inline", containerDimensions: {maxHeight: 800}}}});
  } else if (message.method === "ui/notifications/initialized") {
    post({method: "ui/notifications/tool-input", params: {arguments: ARGUMENTS}});
    post({method: "ui/notifications/tool-result", params: RESULT});
  }
});
view.srcdoc = APP;
</script></body></html>"""

DRAWN = """(() => {
  const doc = document.getElementById("view").contentDocument;
  const app = doc.getElementById("app");
  const text = (id) => { const node = doc.getElementById(id); return node ? node.textContent : null; };
  const bar = doc.getElementById("usage-bar"), track = doc.querySelector("#gauge .track");
  return {state: app.dataset.state, session: text("session"), pct: text("usage-pct"), tokens: text("usage-tokens"),
          source: text("usage-source"), advice: text("advice"), figures: text("figures"), note: text("source-note"),
          fallback: text("text"), barShare: bar ? bar.getBBox().width / track.getBBox().width : null,
          stage: doc.getElementById("next-stage") !== null, received: window.received.map(m => m.method || "response")};
})()"""


@pytest.fixture
async def client(settings: Settings):
    async with Client(build_server(settings)) as connected:
        yield connected


async def test_the_dashboard_resource_is_listed_served_as_an_app_and_named_by_context_status(client: Client):
    resources = {r.uri: r for r in (await client.list_resources()).resources}
    assert str(DASHBOARD_URI) in resources
    assert resources[DASHBOARD_URI].mime_type == APP_MIME
    [content] = (await client.read_resource(DASHBOARD_URI)).contents
    assert content.mime_type == APP_MIME and content.text.startswith("<!DOCTYPE html>")
    assert "ui/initialize" in content.text and "http://" not in content.text.replace("http://www.w3.org/2000/svg", "")
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert tools["context_status"].meta["ui"] == {"resourceUri": DASHBOARD_URI}
    assert all("ui" not in (tool.meta or {}) for name, tool in tools.items() if name != "context_status")
    assert EXTENSION in (client.server_capabilities.extensions or {})


async def test_a_host_without_apps_gets_the_same_text(client: Client):
    result = await ok(client, "context_status", used_tokens=84_000, window_tokens=200_000)
    assert [block.type for block in result.content] == ["text"]  # no embedded resource, nothing new to read
    status = StatusResult.model_validate(result.structured_content)
    assert text_of(result).startswith(status.text())  # the dashboard text, then any guide the pager attached


def host_page(tmp_path: Path, app: str, result: dict[str, Any], arguments: dict[str, Any]) -> Path:
    def inline(value: Any) -> str:
        return json.dumps(value).replace("</", "<\\/")

    page = HOST.replace("__APP__", inline(app)).replace("__RESULT__", inline(result)).replace("__ARGUMENTS__", inline(arguments))
    path = tmp_path / "host.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.skip("no Chromium: apt-get install -y chromium (.ci/run installs it)")
    with Browser() as running:
        yield running


def drawn(browser: Browser, host: Path) -> dict[str, Any]:
    page = browser.page(width=700, height=600)
    page.load(host)
    for _ in range(50):
        view = page.evaluate(DRAWN)
        if view["state"] not in ("waiting", None):
            break
        page.settle(0.1)
    page.settle(0.2)
    assert page.problems() == []
    assert set(page.requests()) == {host.resolve().as_uri()}, "a request left the page"
    result: dict[str, Any] = page.evaluate(DRAWN)
    return result


async def test_the_page_draws_a_recorded_context_status_result(client: Client, browser: Browser, tmp_path: Path):
    [content] = (await client.read_resource(DASHBOARD_URI)).contents
    arguments = {"used_tokens": 150_000, "window_tokens": 200_000}
    await ok(client, "tag", name="start")
    result = await ok(client, "context_status", **arguments)
    recorded = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    status = result.structured_content
    view = drawn(browser, host_page(tmp_path, content.text, recorded, arguments))
    assert view["state"] == "ready"
    assert view["session"] == status["session"]
    assert view["pct"] == f"{status['usage_pct']:.1f}%" == "75.0%"
    assert view["tokens"] == "150,000 / 200,000 tokens" and view["source"] == "reported"
    assert view["advice"].startswith("Squash now") and status["advice_text"] in view["advice"]
    assert "Steps since tag" in view["figures"] and "'start'" in view["figures"] and "Stage 1 (soft trim) at 80%" in view["figures"]
    assert view["barShare"] == pytest.approx(0.75, abs=0.01) and view["stage"]
    assert view["note"] == f"Source: {status['source_note']}"
    assert view["received"][:2] == ["ui/initialize", "ui/notifications/initialized"]
    assert "ui/notifications/size-changed" in view["received"]


async def test_an_error_result_shows_its_text(client: Client, browser: Browser, tmp_path: Path):
    [content] = (await client.read_resource(DASHBOARD_URI)).contents
    result = await client.call_tool("context_status", {"window_tokens": 200_000})  # window without used: refused
    assert result.is_error
    view = drawn(browser, host_page(tmp_path, content.text, result.model_dump(mode="json", by_alias=True, exclude_none=True), {}))
    assert view["state"] == "text" and "window_tokens needs used_tokens" in view["fallback"]
