"""Test-wide settings: one torch thread per test process (``pytest -n 2`` uses the cores
instead: threads competing for busy cores make these small networks far slower)."""

import torch

torch.set_num_threads(1)
