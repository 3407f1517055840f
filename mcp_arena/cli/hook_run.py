"""The hook client (`cli.hook_client`) as a script for `python -I -S`: what `mcp-arena setup claude-code` registers.

`-S` skips `site` (no site-packages scan, no .pth files) and the console-script wrapper of
`mcp-arena-hook` is not there to import `re`: about 10 ms less on every tool call. The folder
holding the `mcp_arena` package goes first on the path; the slow path (no server listening)
runs `site` itself before it imports the engine (`cli.hook_client.handle`).
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

    from mcp_arena.cli.hook_client import main

    sys.exit(main())
