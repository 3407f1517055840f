"""A real headless browser for the tests: Debian's Chromium driven over the DevTools protocol.

Stdlib and bash only: Chromium is started with `--remote-debugging-pipe`, which speaks the
DevTools protocol as NUL-separated JSON on file descriptors 3 (commands in) and
4 (replies and events out) — no websocket library, no downloaded browser.
A `Page` records what a person's browser would: console messages, uncaught
exceptions, log entries (CSP violations among them) and every network request.

    python -m tests.browser FILE.html OUT.png [--width 1100] [--max-height 4000] [--colors 64]

writes a screenshot of the whole page (the README's screenshots were made so;
`--colors` quantizes the PNG with Pillow when it is installed, to keep it small).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Browser:
    """One headless Chromium process; `page()` opens a tab. Use as a context manager."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0):
        executable = executable or chromium_path()
        if executable is None:
            raise RuntimeError("no Chromium found: apt-get install -y chromium")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="arena-chromium-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # The child's ends go above 4, so that putting them on 3 and 4 cannot overwrite one another.
        commands_read, replies_write = (_above_four(fd) for fd in (commands_read, replies_write))
        flags = [
            "--headless",
            "--no-sandbox",  # CI runs as root in a container
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
        ]
        # bash puts the pipe ends on fds 3 and 4, where Chromium expects them (dash takes one-digit fds only).
        script = f'exec "$0" "$@" 3<&{commands_read} 4>&{replies_write}'
        self._process = subprocess.Popen(
            ["bash", "-c", script, executable, *flags, "about:blank"],
            pass_fds=(commands_read, replies_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._send("Browser.close")
            self._process.wait(10)
        except Exception:  # noqa: BLE001 - closing a browser that is already gone
            self._process.kill()
            self._process.wait(10)
        finally:
            os.close(self._commands)
            os.close(self._replies)
            shutil.rmtree(self._profile, ignore_errors=True)

    # -- the protocol ------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                return None
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        while True:
            message = self.receive(self.timeout)
            if message is None:
                raise TimeoutError(f"{method}: no reply in {self.timeout} s")
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def page(self, width: int = 1100, height: int = 900) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page


class Page:
    """One tab: load a file, evaluate JavaScript, read what happened, take a screenshot."""

    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def load(self, path: Path) -> float:
        """Open a file and wait for its load event; the seconds it took."""
        started = time.monotonic()
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")
        return time.monotonic() - started

    def wait_for(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        for event in self._mine():
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            message = self.browser.receive(max(deadline - time.monotonic(), 0))
            if message is None:
                break
            self.browser.events.append(message)
            if message.get("method") == method and message.get("sessionId") == self.session:
                return message
        raise TimeoutError(f"no {method} within the timeout")

    def settle(self, quiet: float = 0.3) -> None:
        """Collect the events that arrive until none comes for `quiet` seconds."""
        while (message := self.browser.receive(quiet)) is not None:
            self.browser.events.append(message)

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression[:80]}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, out: Path, max_height: int = 4000) -> None:
        """The page from its top, as wide as it is and up to `max_height` pixels tall."""
        size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], max_height), "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})["data"]
        out.write_bytes(base64.b64decode(data))

    def pdf(self) -> bytes:
        """The page printed (A4, backgrounds on), as a PDF."""
        data = self.call("Page.printToPDF", {"printBackground": True, "paperWidth": 8.27, "paperHeight": 11.69})["data"]
        return base64.b64decode(data)

    # -- what a person's browser saw ---------------------------------------------------------------

    def _mine(self) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and error log entries (CSP violations included)."""
        found = []
        for event in self._mine():
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {[a.get('value', a.get('description')) for a in params.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('exception', {}).get('description') or params['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log: {params['entry']['text']}")
        return found

    def requests(self) -> list[str]:
        """Every URL the page asked for (the document itself included)."""
        return [e["params"]["request"]["url"] for e in self._mine() if e.get("method") == "Network.requestWillBeSent"]


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def _quantize(path: Path, colors: int) -> None:
    try:
        from PIL import Image
    except ImportError:
        print("Pillow not installed: the screenshot is kept unquantized", file=sys.stderr)
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser", description="Screenshot an HTML file with headless Chromium.")
    parser.add_argument("html", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--max-height", type=int, default=4000, help="cut the page at this many pixels")
    parser.add_argument("--colors", type=int, default=0, help="quantize the PNG to this many colors (0: keep)")
    args = parser.parse_args(argv)
    with Browser() as browser:
        page = browser.page(width=args.width)
        page.load(args.html)
        page.settle()
        page.screenshot(args.out, args.max_height)
    if args.colors:
        _quantize(args.out, args.colors)
    print(f"{args.out} ({args.out.stat().st_size / 1024:,.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
