"""Hyper-parameter presets per environment and agent (YAML, like rl-baselines3-zoo)."""
