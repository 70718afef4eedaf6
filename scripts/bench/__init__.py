"""Benchmarks: speed against the peers and learning results (``stateful-rl bench NAME``).

Each module is a script (``python -m stateful_rl.bench.agents ...``); nothing in the library,
the CLI's runtime or the tests imports them.
"""
