"""`mcp-arena wrap`: the arena put in front of a host's servers, on real files, through the real command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_arena.cli.main import main
from mcp_arena.cli.wrap import HOSTS, default_config, is_arena
from mcp_arena.proxy.config import load_upstreams, parse_upstreams

EXECUTABLE = Path(sys.executable).parent / "mcp-arena"
FAULT_SERVER = Path(__file__).resolve().parent / "upstreams" / "fault_server.py"
ARENA = "/opt/arena/bin/mcp-arena"  # the --arena-command of the in-process runs
SECRETS = ("ghp_SUPERSECRET123456", "HEADERSECRET777", "QUERYSECRET99", "OLDSECRET12345")

SERVERS: dict[str, Any] = {
    "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
    "github": {"command": "docker", "args": ["run", "-i", "ghcr.io/github/github-mcp-server"], "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRETS[0]}},
    "remote": {"url": f"https://api.example.com/mcp?key={SECRETS[2]}", "headers": {"Authorization": f"Bearer {SECRETS[1]}"}},
}
DISABLED = {"command": "old-server", "disabled": True, "env": {"OLD_TOKEN": SECRETS[3]}}
CLAUDE = {"globalShortcut": "Ctrl+Space", "mcpServers": {**SERVERS, "old": DISABLED}, "preferences": {"theme": "dark"}}

VSCODE = """{
  // VS Code writes JSON with comments
  "inputs": [{"type": "promptString", "id": "gh-token", "description": "GitHub token", "password": true}],
  "servers": {
    "github": {"type": "stdio", "command": "docker", "args": ["run", "-i", "ghcr.io/github/github-mcp-server"],
               "env": {"GITHUB_TOKEN": "${input:gh-token}"}},
    "web": {"type": "http", "url": "https://api.example.com/mcp"}, /* remote */
    "events": {"type": "sse", "url": "http://127.0.0.1:9000/sse"},
  },
}
"""


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return path


def wrap(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["wrap", *args])
    out, err = capsys.readouterr()
    return code, out, err


def upstream_of(config: Path, key: str = "mcpServers") -> Path:
    args = json.loads(config.read_text())[key]["arena"]["args"]
    return Path(args[args.index("--upstream") + 1])


def backups(config: Path) -> list[Path]:
    return sorted(config.parent.glob(f"{config.name}.bak-*"))


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def no_secret_in(*texts: str) -> bool:
    return not any(secret in text for secret in SECRETS for text in texts)


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the Linux default path of Claude Desktop")
def test_claude_desktop_write_through_the_installed_command(tmp_path: Path):
    user = tmp_path / "user"
    config = write(user / ".config" / "Claude" / "claude_desktop_config.json", CLAUDE)
    original = config.read_bytes()
    env = {name: value for name, value in os.environ.items() if name != "XDG_CONFIG_HOME"}
    env |= {"HOME": str(user), "MCP_ARENA_HOME": str(tmp_path / "arena")}

    done = subprocess.run([str(EXECUTABLE), "wrap", "--host", "claude-desktop", "--write"], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and no_secret_in(done.stdout, done.stderr)
    assert "files, github, remote" in done.stderr and "GITHUB_PERSONAL_ACCESS_TOKEN" in done.stderr and "Authorization" in done.stderr
    assert "restart Claude Desktop" in done.stderr
    [backup] = backups(config)
    assert backup.read_bytes() == original and str(backup) in done.stderr
    assert backup.name.startswith("claude_desktop_config.json.bak-") and len(backup.name.rpartition("bak-")[2]) == len("YYYYmmdd-HHMMSS")

    upstream = tmp_path / "arena" / "upstreams" / "claude-desktop.json"  # the host's usual config: the plain name
    new = json.loads(config.read_text())
    assert new == {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {"arena": {"command": str(EXECUTABLE), "args": ["serve", "--upstream", str(upstream)]}, "old": DISABLED},
        "preferences": {"theme": "dark"},
    }
    assert private(upstream) and str(upstream) in done.stderr
    assert load_upstreams(upstream) == parse_upstreams({"mcpServers": SERVERS})
    assert json.loads(upstream.read_text())["mcpServers"] == SERVERS


def test_cursor_without_write_prints_the_config_and_writes_only_the_upstream_file(tmp_path: Path, home: Path, capsys):
    config = write(tmp_path / "shop" / ".cursor" / "mcp.json", {"mcpServers": {**SERVERS, "old": DISABLED}})
    original = config.read_bytes()

    code, out, err = wrap(capsys, "--host", "cursor", "--config", str(config), "--arena-command", ARENA)

    assert code == 0 and config.read_bytes() == original and backups(config) == []
    assert no_secret_in(out, err) and "OLD_TOKEN" in out and "--write" in err
    printed = json.loads(out)
    arena = printed["mcpServers"]["arena"]
    upstream = Path(arena["args"][2])
    assert arena == {"command": ARENA, "args": ["serve", "--upstream", str(upstream)]}
    assert list(printed["mcpServers"]) == ["arena", "old"] and printed["mcpServers"]["old"]["env"] == {"OLD_TOKEN": "***"}
    assert upstream.parent == home / "upstreams" and upstream.name.startswith("cursor-shop-")  # a project's config: its own file
    assert private(upstream) and load_upstreams(upstream) == parse_upstreams({"mcpServers": SERVERS})


def test_vscode_keeps_inputs_adds_the_type_and_warns_about_placeholders(tmp_path: Path, home: Path, capsys):
    config = write(tmp_path / "app" / ".vscode" / "mcp.json", VSCODE)
    upstream = tmp_path / "chosen" / "upstream.json"

    code, out, err = wrap(capsys, "--host", "vscode", "--config", str(config), "--upstream-file", str(upstream), "--arena-command", ARENA, "--write")

    assert code == 0 and out == ""
    assert [b.read_text() for b in backups(config)] == [VSCODE]  # comments and all
    new = json.loads(config.read_text())
    assert new == {
        "inputs": [{"type": "promptString", "id": "gh-token", "description": "GitHub token", "password": True}],
        "servers": {"arena": {"type": "stdio", "command": ARENA, "args": ["serve", "--upstream", str(upstream)]}},
    }
    written = json.loads(upstream.read_text())["mcpServers"]
    assert list(written) == ["github", "web", "events"] and written["github"]["env"] == {"GITHUB_TOKEN": "${input:gh-token}"}
    assert [spec.transport for spec in load_upstreams(upstream)] == ["stdio", "streamable-http", "sse"] and private(upstream)
    assert "github.env.GITHUB_TOKEN" in err and "cannot prompt" in err and "comments" in err and "restart VS Code" in err


def test_wrapping_twice_changes_nothing_and_a_new_server_is_merged(tmp_path: Path, home: Path, capsys):
    config = write(tmp_path / "claude.json", CLAUDE)
    args = ("--host", "claude-desktop", "--config", str(config), "--arena-command", ARENA, "--write")
    assert wrap(capsys, *args)[0] == 0
    upstream = upstream_of(config)
    first = (config.read_bytes(), upstream.read_bytes(), backups(config))

    code, out, err = wrap(capsys, *args)

    assert code == 0 and "nothing to change" in err
    assert (config.read_bytes(), upstream.read_bytes(), backups(config)) == first

    doc = json.loads(config.read_text())
    doc["mcpServers"]["sentry"] = {"command": "sentry-mcp", "env": {"SENTRY_TOKEN": "sntrys_NEWSECRET42"}}
    doc["mcpServers"]["files"] = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]}  # re-added, changed
    write(config, doc)
    code, out, err = wrap(capsys, *args)

    assert code == 0 and "sentry" in err and "files" in err and "sntrys_NEWSECRET42" not in err
    assert set(json.loads(config.read_text())["mcpServers"]) == {"arena", "old"}
    assert upstream_of(config) == upstream
    servers = json.loads(upstream.read_text())["mcpServers"]
    assert list(servers) == ["files", "github", "remote", "sentry"] and servers["files"]["args"][-1] == "/srv"
    assert len(backups(config)) == 2


def test_unwrap_restores_the_original_config(tmp_path: Path, home: Path, capsys):
    config = write(tmp_path / "claude.json", CLAUDE)
    wrap(capsys, "--host", "claude-desktop", "--config", str(config), "--arena-command", ARENA, "--write")

    code, out, err = wrap(capsys, "--host", "claude-desktop", "--config", str(config), "--unwrap")  # a preview first

    assert code == 0 and no_secret_in(out, err) and json.loads(out)["mcpServers"]["github"]["env"] == {"GITHUB_PERSONAL_ACCESS_TOKEN": "***"}
    code, out, err = wrap(capsys, "--host", "claude-desktop", "--config", str(config), "--unwrap", "--write")

    assert code == 0 and out == "" and no_secret_in(err) and "files, github, remote" in err
    assert json.loads(config.read_text()) == CLAUDE
    assert len(backups(config)) == 2  # wrap and unwrap in the same second keep both
    assert main(["wrap", "--host", "claude-desktop", "--config", str(config), "--unwrap"]) == 2  # nothing left to unwrap
    assert "nothing to unwrap" in capsys.readouterr().err


def test_an_existing_arena_entry_is_reused_and_restored(tmp_path: Path, home: Path, capsys):
    arena = {"command": "uvx", "args": ["mcp-arena@latest", "serve", "--transcript", "auto"], "env": {"MCP_ARENA_WINDOW_TOKENS": "1000000"}}
    local = {"command": "./bin/server", "cwd": "tools"}
    original = {"mcpServers": {"mine": arena, "local": local}}
    config = write(tmp_path / "cursor.json", original)

    code, _, err = wrap(capsys, "--host", "cursor", "--config", str(config), "--write")

    assert code == 0
    servers = json.loads(config.read_text())["mcpServers"]
    assert list(servers) == ["mine"] and servers["mine"]["args"][:4] == arena["args"] and servers["mine"]["env"] == arena["env"]
    upstream = Path(servers["mine"]["args"][-1])
    assert json.loads(upstream.read_text())["mcpServers"]["local"]["cwd"] == str(tmp_path / "tools")  # kept pointing where it pointed
    assert "relative cwd" in err
    wrap(capsys, "--host", "cursor", "--config", str(config), "--unwrap", "--write")
    assert json.loads(config.read_text()) == {"mcpServers": {"mine": arena, "local": {**local, "cwd": str(tmp_path / "tools")}}}


@pytest.mark.anyio
async def test_the_host_starts_the_arena_from_the_new_entry_and_reaches_the_wrapped_server(tmp_path: Path, home: Path, capsys):
    echo = {"command": sys.executable, "args": [str(FAULT_SERVER)], "env": {"FAULT_NAME": "wrapped-echo"}}
    config = write(tmp_path / "claude.json", {"mcpServers": {"echoes": echo}})
    assert wrap(capsys, "--host", "claude-desktop", "--config", str(config), "--arena-command", str(EXECUTABLE), "--write")[0] == 0

    entry = json.loads(config.read_text())["mcpServers"]["arena"]  # started the way the host starts it
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}
    with anyio.fail_after(120):
        async with Client(StdioServerParameters(command=entry["command"], args=entry["args"], env=env)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("echo", {"text": "through the arena"})
    assert {"context_status", "echo"} <= tools
    assert not result.is_error and "through the arena" in result.content[0].text


@pytest.mark.parametrize(
    ("host", "text", "expected"),
    [
        ("claude-desktop", None, "config not found"),
        ("claude-desktop", '{"mcpServers": {"a": {"command": "x", "env": {"T": "ghp_SUPERSECRET123456"}}', "not valid JSON"),
        ("claude-desktop", json.dumps({"mcpServers": {"old": DISABLED}}), "no servers to wrap"),
        ("claude-desktop", json.dumps({"globalShortcut": "x"}), 'no "mcpServers" object'),
        ("vscode", json.dumps({"mcpServers": SERVERS}), "pass --host claude-desktop or cursor"),
        ("vscode", json.dumps({"servers": {"a": {"type": "stdio", "command": "x", "envFile": "${workspaceFolder}/.env"}}}), "envFile"),
        ("cursor", json.dumps({"mcpServers": {"a": {"comand": "x"}}}), 'Did you mean "command"'),
        ("cursor", json.dumps({"mcpServers": {"a": {"command": "mcp-arena", "args": ["serve"]}}}), "no servers to wrap"),
    ],
)
def test_errors_exit_2_with_one_line_and_change_nothing(tmp_path: Path, home: Path, capsys, host: str, text: str | None, expected: str):
    config = tmp_path / "config.json"
    if text is not None:
        config.write_text(text)

    code, out, err = wrap(capsys, "--host", host, "--config", str(config), "--arena-command", ARENA, "--write")

    assert code == 2 and out == "" and err.startswith("mcp-arena: ") and err.count("\n") == 1, err
    assert expected in err and no_secret_in(err)
    assert not (home / "upstreams").exists() and backups(config) == []
    assert config.exists() == (text is not None) and (text is None or config.read_text() == text)


def test_an_upstream_file_of_another_config_is_never_overwritten(tmp_path: Path, home: Path, capsys):
    shared = tmp_path / "upstream.json"
    first = write(tmp_path / "one.json", {"mcpServers": SERVERS})
    second = write(tmp_path / "two.json", {"mcpServers": {"other": {"command": "other-server"}}})
    assert wrap(capsys, "--host", "cursor", "--config", str(first), "--upstream-file", str(shared), "--arena-command", ARENA)[0] == 0
    before = shared.read_bytes()

    code, _, err = wrap(capsys, "--host", "cursor", "--config", str(second), "--upstream-file", str(shared), "--arena-command", ARENA)

    assert code == 2 and f"the servers of {first}" in err and shared.read_bytes() == before


def test_the_arena_is_recognised_in_its_forms():
    assert is_arena({"command": "mcp-arena", "args": ["serve"]})
    assert is_arena({"command": "C:\\Tools\\mcp-arena.exe"})
    assert is_arena({"command": "/usr/bin/python3", "args": ["-m", "mcp_arena", "serve"]})
    assert is_arena({"command": "uvx", "args": ["mcp-arena@latest", "serve"]})
    assert is_arena({"command": "node", "args": ["proxy.js", "serve", "--upstream", "x.json"]})
    assert not is_arena({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/mcp_arena"]})
    assert not is_arena({"command": "mcp-arena-tools"})
    assert not is_arena({"url": "https://example.com/mcp-arena"})


def test_default_config_paths_per_platform(tmp_path: Path):
    claude = HOSTS["claude-desktop"]
    assert default_config(claude, platform="darwin", env={}, home=tmp_path) == tmp_path / "Library/Application Support/Claude/claude_desktop_config.json"
    assert default_config(claude, platform="win32", env={"APPDATA": str(tmp_path / "Roaming")}, home=tmp_path) == (
        tmp_path / "Roaming" / "Claude" / "claude_desktop_config.json"
    )
    assert default_config(claude, platform="linux", env={}, home=tmp_path) == tmp_path / ".config/Claude/claude_desktop_config.json"
    assert default_config(HOSTS["cursor"], home=tmp_path) == tmp_path / ".cursor" / "mcp.json"
    assert default_config(HOSTS["vscode"], home=tmp_path) == Path.cwd() / ".vscode" / "mcp.json"
