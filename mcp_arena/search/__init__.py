"""Hybrid recall over an events table, a library: the query path (index), ranking (rank), the vector
writer (vectors), the unembedded tail held in memory (tail), the background thread (worker), the
tables it is handed (tables), fresh rows, filters, words, the embedder, and the embedding worker
that every server of a user shares (embed_service, its client embed_client).

May import: `mcp_arena.core`, `mcp_arena.config`, `mcp_arena.errors`, LanceDB and onnxruntime; never
the engine, MCP, the CLI or the lab. It never opens, creates or optimizes a table: their owner (the
engine's store) hands it the handles.
"""
