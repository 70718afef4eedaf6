"""Scripts that regenerate the figures and reports under ``docs/`` (seed claims, the
explained agent, encoder gradients, salamander CPG figure and videos, reference tables).

Each module is a script; output paths are arguments. Nothing in the library, the CLI's
runtime or the tests imports them.
"""
