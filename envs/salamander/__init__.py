"""Simulated salamander (MuJoCo): model, water forces, Ijspeert CPG and environments."""
