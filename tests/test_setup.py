"""`mcp-arena setup claude-code` through the real CLI, on folders standing in for a project and a home.

HOME and CLAUDE_CONFIG_DIR point into the test's folder, so no real Claude Code file is read or
written. The end-to-end test starts the server exactly as the registered entry says and runs the
registered hook commands through a shell, as Claude Code does.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

EXECUTABLE = str(Path(sys.executable).parent / "mcp-arena")  # the running mcp-arena (tests run `python -m mcp_arena`)
HOOK_EVENTS = ["PreCompact", "SessionStart", "PostToolUse", "PostToolUseFailure"]

USER_SETTINGS = {
    "permissions": {"allow": ["Bash(mix test:*)"]},
    "hooks": {
        "PreCompact": [{"hooks": [{"type": "command", "command": 'cp "$CLAUDE_PROJECT_DIR/notes.md" /tmp/notes.bak'}]}],
        "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "mix format", "timeout": 20}]}],
    },
}
USER_SERVERS = {"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]}}}


@pytest.fixture
def env(tmp_path: Path, home: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "CLAUDE_CONFIG_DIR"}
    return {**environment, "HOME": str(tmp_path / "user"), "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def setup(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mcp_arena", "setup", "claude-code", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def write(path: Path, doc: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4) + "\n")
    return path.read_bytes()


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


def arena_groups(settings: dict, event: str) -> list[dict]:
    return [
        group for group in settings["hooks"].get(event, []) if any("mcp-arena" in hook["command"] or "mcp_arena" in hook["command"] for hook in group["hooks"])
    ]


def test_project_setup_merges_is_idempotent_and_uninstall_restores(env, project, home):
    servers_file, settings_file = project / ".mcp.json", project / ".claude" / "settings.json"
    original = {servers_file: write(servers_file, USER_SERVERS), settings_file: write(settings_file, USER_SETTINGS)}

    first = setup(env, project)
    assert first.returncode == 0, first.stderr
    servers = json.loads(servers_file.read_text())["mcpServers"]
    assert servers["fs"] == USER_SERVERS["mcpServers"]["fs"]
    assert servers["arena"] == {"type": "stdio", "command": EXECUTABLE, "args": ["serve", "--transcript", "auto", "--home", str(home)]}
    settings = json.loads(settings_file.read_text())
    assert settings["permissions"] == USER_SETTINGS["permissions"]
    for event, groups in USER_SETTINGS["hooks"].items():  # the user's hooks first and untouched, the arena's after them
        assert settings["hooks"][event][: len(groups)] == groups
    assert arena_groups(settings, "PreCompact") == [{"hooks": [{"type": "command", "command": f"{EXECUTABLE} hook pre-compact --home {home}", "timeout": 30}]}]
    assert arena_groups(settings, "SessionStart") == [
        {"matcher": "compact", "hooks": [{"type": "command", "command": f"{EXECUTABLE} hook session-start --home {home}", "timeout": 30}]}
    ]
    [post_tool_use] = arena_groups(settings, "PostToolUse")
    assert post_tool_use["matcher"] == "*" and shlex.split(post_tool_use["hooks"][0]["command"])[-3:] == ["post-tool-use", "--home", str(home)]
    [failure] = arena_groups(settings, "PostToolUseFailure")
    assert failure["matcher"] == "*" and shlex.split(failure["hooks"][0]["command"])[-3:] == ["post-tool-use-failure", "--home", str(home)]
    for group in (post_tool_use, failure):  # the client's script without `site`: ~10 ms less on every tool call
        words = shlex.split(group["hooks"][0]["command"])
        assert words[:3] == [sys.executable, "-I", "-S"] and words[3].endswith("/mcp_arena/cli/hook_run.py") and Path(words[3]).is_file()
    for path, before in original.items():
        [backup] = backups(path)
        assert backup.read_bytes() == before
    assert "backup:" in first.stdout and "Restart Claude Code" in first.stdout

    registered = {path: path.read_bytes() for path in original}
    again = setup(env, project)
    assert again.returncode == 0, again.stderr
    assert "already registered" in again.stdout and "backup" not in again.stdout
    assert {path: path.read_bytes() for path in original} == registered
    assert all(len(backups(path)) == 1 for path in original)

    removed = setup(env, project, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    for path, before in original.items():
        assert json.loads(path.read_text()) == json.loads(before)
        assert len(backups(path)) == 2
    assert "no server" in setup(env, project, "--uninstall").stdout


def test_setup_in_an_empty_project_and_uninstall_leaves_no_file(env, project):
    assert setup(env, project).returncode == 0
    assert (project / ".mcp.json").is_file() and (project / ".claude" / "settings.json").is_file()
    assert all(not backups(path) for path in (project / ".mcp.json", project / ".claude" / "settings.json"))
    assert setup(env, project, "--uninstall").returncode == 0
    assert not (project / ".mcp.json").exists() and not (project / ".claude" / "settings.json").exists()


@pytest.mark.parametrize("config_dir", [True, False], ids=["CLAUDE_CONFIG_DIR", "HOME"])
def test_user_scope_writes_claude_json_and_the_user_settings(env, project, tmp_path, config_dir):
    if config_dir:
        env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "claude-config")
        servers_file, settings_file = tmp_path / "claude-config" / ".claude.json", tmp_path / "claude-config" / "settings.json"
    else:
        servers_file, settings_file = tmp_path / "user" / ".claude.json", tmp_path / "user" / ".claude" / "settings.json"
    account = {"numStartups": 12, "projects": {str(project): {"allowedTools": []}}, **USER_SERVERS}
    write(servers_file, account)
    run = setup(env, project, "--scope", "user")
    assert run.returncode == 0, run.stderr
    written = json.loads(servers_file.read_text())
    assert {key: value for key, value in written.items() if key != "mcpServers"} == {"numStartups": 12, "projects": account["projects"]}
    assert set(written["mcpServers"]) == {"fs", "arena"}
    assert [event for event in HOOK_EVENTS if arena_groups(json.loads(settings_file.read_text()), event)] == HOOK_EVENTS
    assert not (project / ".mcp.json").exists() and not (project / ".claude").exists()
    assert setup(env, project, "--scope", "user", "--uninstall").returncode == 0
    assert json.loads(servers_file.read_text()) == account
    assert not settings_file.exists()


def test_a_stale_arena_entry_is_replaced_and_never_duplicated(env, project):
    settings_file = project / ".claude" / "settings.json"
    readme_snippet = {  # what the README told people to paste, before setup existed, and an older setup's client
        "hooks": {
            "PreCompact": [{"hooks": [{"type": "command", "command": "mcp-arena hook pre-compact", "timeout": 30}]}],
            "SessionStart": [{"matcher": "compact", "hooks": [{"type": "command", "command": "/old/venv/bin/mcp-arena hook session-start"}]}],
            "PostToolUseFailure": [{"matcher": "*", "hooks": [{"type": "command", "command": "/old/venv/bin/mcp-arena-hook post-tool-use-failure"}]}],
        }
    }
    write(settings_file, readme_snippet)
    write(project / ".mcp.json", {"mcpServers": {"arena": {"command": "/old/venv/bin/mcp-arena", "args": ["serve"]}}})
    run = setup(env, project)
    assert run.returncode == 0, run.stderr
    assert "PreCompact replaced" in run.stdout and "PostToolUse (*) added" in run.stdout and "server 'arena' replaced" in run.stdout
    assert "PostToolUseFailure (*) replaced" in run.stdout
    settings = json.loads(settings_file.read_text())
    assert all(len(arena_groups(settings, event)) == 1 for event in HOOK_EVENTS)
    assert all(
        EXECUTABLE in group["hooks"][0]["command"] or sys.executable in group["hooks"][0]["command"]
        for event in HOOK_EVENTS
        for group in arena_groups(settings, event)
    )
    assert json.loads((project / ".mcp.json").read_text())["mcpServers"]["arena"]["command"] == EXECUTABLE
    assert setup(env, project, "--uninstall").returncode == 0
    assert not settings_file.exists() and not (project / ".mcp.json").exists()


def test_a_foreign_server_of_the_same_name_is_never_overwritten(env, project):
    foreign = {"mcpServers": {"arena": {"command": "node", "args": ["arena-game-server.js"]}}}
    before = write(project / ".mcp.json", foreign)
    run = setup(env, project)
    assert run.returncode == 2 and "not mcp-arena" in run.stderr and "--name" in run.stderr
    assert (project / ".mcp.json").read_bytes() == before and not backups(project / ".mcp.json")
    assert not (project / ".claude").exists()  # nothing written when one file cannot be
    assert setup(env, project, "--name", "context-arena").returncode == 0
    assert set(json.loads((project / ".mcp.json").read_text())["mcpServers"]) == {"arena", "context-arena"}
    assert "left as it is" in setup(env, project, "--uninstall").stdout  # the foreign 'arena' stays
    assert set(json.loads((project / ".mcp.json").read_text())["mcpServers"]) == {"arena", "context-arena"}
    assert setup(env, project, "--uninstall", "--name", "context-arena").returncode == 0
    assert json.loads((project / ".mcp.json").read_text()) == foreign


@pytest.mark.parametrize(
    "content, complaint",
    [('{ "hooks": ', "not valid JSON"), ("[1, 2]", "not a JSON object"), ('{"hooks": {"PreCompact": {"command": "x"}}}', "is not a list")],
)
def test_a_settings_file_claude_code_could_not_read_is_left_untouched(env, project, content, complaint):
    settings_file = project / ".claude" / "settings.json"
    settings_file.parent.mkdir()
    settings_file.write_text(content)
    run = setup(env, project)
    assert run.returncode == 2 and complaint in run.stderr and "nothing was changed" in run.stderr.lower()
    assert settings_file.read_text() == content and not backups(settings_file)
    assert not (project / ".mcp.json").exists()


def test_dry_run_writes_nothing(env, project):
    run = setup(env, project, "--dry-run")
    assert run.returncode == 0 and "server 'arena' added" in run.stdout and "dry run" in run.stdout
    assert not (project / ".mcp.json").exists() and not (project / ".claude").exists()


# -- what was registered runs ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_registered_server_keeps_its_dashboard_and_recall_loaded_and_the_hooks_never_fail(env, project):
    """Item: Claude Code's tool search defers MCP tools; `_meta["anthropic/alwaysLoad"]` keeps these two loaded."""
    from mcp import Client, StdioServerParameters

    assert setup(env, project).returncode == 0
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["arena"]
    server = StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(project))
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    always_loaded = {name for name, tool in tools.items() if (tool.meta or {}).get("anthropic/alwaysLoad") is True}
    assert always_loaded == {"context_status", "memory_search"}
    assert all(tools[name].meta is None for name in set(tools) - always_loaded)

    settings = json.loads((project / ".claude" / "settings.json").read_text())
    payload = json.dumps({"session_id": "never-seen", "hook_event_name": "PreCompact", "cwd": str(project)})
    for event in HOOK_EVENTS:
        [group] = arena_groups(settings, event)
        run = subprocess.run(group["hooks"][0]["command"], shell=True, input=payload, capture_output=True, text=True, env=env, cwd=project, timeout=120)
        assert (run.returncode, run.stdout) == (0, ""), (event, run.stderr)
