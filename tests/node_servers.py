"""Reference MCP servers from npm, installed once into a cache folder for the proxy tests.

`filesystem_server` (session-scoped) installs `@modelcontextprotocol/server-filesystem` at a
pinned version with `npm install --prefix ~/.cache/mcp-arena-tests/node` (or under
$XDG_CACHE_HOME) unless that version is already there, and returns the command line that
starts it. The test is skipped only when `npm` or `node` is missing; a failed install fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FILESYSTEM_PACKAGE = "@modelcontextprotocol/server-filesystem"
FILESYSTEM_VERSION = "2026.8.31"
INSTALL_TIMEOUT = 300


def node_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mcp-arena-tests" / "node"


def installed_version(prefix: Path, package: str) -> str | None:
    manifest = prefix / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def npm_install(prefix: Path, package: str, version: str) -> Path:
    """The package folder, installed at exactly `version` under `prefix`."""
    folder = prefix / "node_modules" / package
    if installed_version(prefix, package) == version:
        return folder
    prefix.mkdir(parents=True, exist_ok=True)
    command = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact", "--loglevel=error", f"{package}@{version}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    if done.returncode != 0 or installed_version(prefix, package) != version:
        pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return folder


@pytest.fixture(scope="session")
def filesystem_server() -> list[str]:
    """The command line (node + script) of the reference filesystem server; append allowed folders."""
    for tool in ("npm", "node"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed: the reference filesystem server from npm cannot run")
    folder = npm_install(node_cache(), FILESYSTEM_PACKAGE, FILESYSTEM_VERSION)
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    binary = manifest["bin"] if isinstance(manifest["bin"], str) else next(iter(manifest["bin"].values()))
    node = shutil.which("node")
    assert node is not None
    return [node, str((folder / binary).resolve())]
