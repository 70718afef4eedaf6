"""Gymnasium environments with hidden state; importing this module registers them.

This module must not import torch (projects that only use our environments should not pay
for it) and imports mujoco only when a salamander environment is made.
"""

from stateful_rl.envs.registration import register_envs

register_envs()
