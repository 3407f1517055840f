"""Hybrid recall over an events table, a library: the query path, vectors and their catch-up, ranking, fresh rows, filters, words, the embedder.

May import: `mcp_arena.core`, `mcp_arena.config`, `mcp_arena.errors`, LanceDB and onnxruntime; never the engine, MCP, the CLI or the lab.
"""
