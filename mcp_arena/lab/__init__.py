"""Measurement, not product: bench, evaluate, simulate and their workloads.

May import `core`, `search`, `feeds`, `engine`, `config`, `errors` and the server (the bench drives it);
nothing in the product imports the lab (the CLI only dispatches to it).
"""
