"""Claude Code's PostToolUse and PostToolUseFailure hooks, the arena's side: the wire, the payload adapter, the socket listener.

`wire` is what the hook's thin client (`cli.hook_client`) and the server share:
the socket's path, the reply's bytes, the limits; stdlib only, since the client
imports it on every tool call. `adapter` turns one payload into a shaped result
and the hook's output, through `Arena.shape_result` like the proxy's `relay`.
`listener` serves the client on the home's Unix socket while `serve` runs.

May import engine, core, config and errors; the server and the CLI import it.
"""
