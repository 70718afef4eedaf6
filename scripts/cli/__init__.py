"""The ``stateful-rl`` command and what it runs: run configurations and presets, run
directories, training and resuming, evaluation, sweeps, the demo and the catalog.

``main`` is the console script's entry point; the modules are usable from Python too
(``stateful_rl.cli.training.train(config, run_dir)``).
"""

from stateful_rl.cli.main import main

__all__ = ["main"]
