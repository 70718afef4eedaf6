"""Test-wide settings: one torch thread per test process (two threads on a loaded 2-core
machine made single tests up to 70x slower here; ``pytest -n 2`` uses both cores instead)."""

import torch

torch.set_num_threads(1)
