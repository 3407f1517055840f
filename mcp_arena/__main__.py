import sys

from mcp_arena.cli.main import main

sys.exit(main())
