"""Speed of the salamander environments next to Gymnasium's ``Swimmer-v5``, and its gaits.

Prints, per environment and control: control steps per wall second, simulated seconds per
wall second and its ratio to ``Swimmer-v5``, by wall time and by this process's CPU time
(the CPU ratio is what an idle machine shows; each measured alternately with the peer,
best of ``--repeats``, so that the load of a shared machine hits both alike); then where one
physics step's time goes (the compiled physics loop with the water forces, the water forces
alone, and the rest of the environment step: CPG, motor map, observation, info, Python). Random
actions; one process, one thread. ``--gaits PNG`` also measures the centre-of-mass speed against the
CPG drive (swimming at 5 and 2 ms, walking) and plots it.

    python -m stateful_rl.bench.salamander --steps 2000 --gaits runs/salamander_speed.png
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.salamander.base import CONTROLS
from stateful_rl.envs.salamander.registration import SALAMANDER_ENVS

SWIM, WALK = "stateful_rl/SalamanderSwim-v0", "stateful_rl/SalamanderWalk-v0"
SWIM_DRIVES, WALK_DRIVES = (3.5, 4.0, 4.5, 5.0), (1.5, 2.0, 2.5, 3.0)
FINE = {"timestep": 0.002, "frame_skip": 20}  # the 2 ms reference, same control period


def constant_drive(
    env_id: str,
    left: float,
    right: float,
    steps: int = 500,
    seed: int = 0,
    control: str = "cpg",
    **kwargs,
) -> tuple[float, float]:
    """Hold CPG drives for ``steps`` control steps (``control`` "cpg" or "neural_cpg");
    return the centre of mass's mean speed along +x after the first quarter (m/s) and its
    change of heading (deg, positive = anticlockwise) from the second quarter to the last."""
    env = gym.make(env_id, control=control, **kwargs)
    env.reset(seed=seed)
    positions = np.zeros((steps, 2))
    for k in range(steps):
        positions[k] = env.step(np.array([left, right]))[4]["com_position"][:2]
    q = steps // 4
    speed = (positions[-1, 0] - positions[q, 0]) / ((steps - 1 - q) * env.unwrapped.control_dt)
    early, late = positions[2 * q - 1] - positions[q], positions[-1] - positions[-q]
    turn = np.arctan2(late[1], late[0]) - np.arctan2(early[1], early[0])
    return float(speed), float(np.degrees(turn))


def step_rates(env: gym.Env, steps: int, seed: int = 0) -> tuple[float, float]:
    """Random-action steps per wall second and per CPU second of this process (resets
    included, actions drawn before the clocks start). ``bench_common.steps_per_second``
    with a second clock: CPU time is immune to the other processes on a shared machine."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    wall, cpu = time.perf_counter(), time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def best_rates(env: gym.Env, peer: gym.Env, steps: int, repeats: int) -> np.ndarray:
    """Best-of-``repeats`` [wall, CPU] rates of ``env`` and ``peer``, shape [2, 2], measured
    alternately so that a shared machine's load hits both alike."""
    rates = [step_rates(e, steps) for _ in range(repeats) for e in (env, peer)]
    return np.array(rates).reshape(repeats, 2, 2).max(axis=0)


def physics_profile(env: gym.Env, steps: int) -> dict[str, float]:
    """CPU microseconds per physics step: the compiled physics loop as the environment runs
    it (contact gate, ``mj_step1``, water forces, ``mj_step2``), the water forces alone (one
    ``WaterForces.apply`` call from Python: an upper bound, the call itself included), and
    the whole environment step divided by ``frame_skip``."""
    env = env.unwrapped
    env.reset(seed=0)
    for _ in range(50):  # reach a swimming state
        env.step(env.action_space.sample())
    n = steps * env.frame_skip
    targets = np.tile(env.data.ctrl, (n // env.steps_per_cpg, 1))
    start = time.process_time()
    env.physics.simulate(targets, env.steps_per_cpg, env.cpg_dt)
    physics = (time.process_time() - start) / n
    start = time.process_time()
    for _ in range(n):
        env.water.apply()
    water = (time.process_time() - start) / n
    total = 1.0 / (step_rates(env, steps)[1] * env.frame_skip)
    return {"physics": physics * 1e6, "water": water * 1e6, "total": total * 1e6}


def speed_table(steps: int, repeats: int) -> None:
    swimmer = gym.make("Swimmer-v5")
    rows = [(name, control, {}) for name, _, _ in SALAMANDER_ENVS for control in CONTROLS]
    rows += [
        (name, control, FINE)
        for name in ("SalamanderSwim-v0", "SalamanderWalk-v0")
        for control in ("cpg", "joints")
    ]
    print(
        "| environment | control | timestep (ms) | control steps/s | simulated s / wall s "
        "(Swimmer-v5) | ratio, wall | ratio, CPU |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, control, kwargs in rows:
        env = gym.make(f"stateful_rl/{name}", control=control, **kwargs)
        (wall, cpu), (peer_wall, peer_cpu) = best_rates(env, swimmer, steps, repeats)
        dt, peer_dt = env.unwrapped.control_dt, swimmer.unwrapped.dt
        ratio_wall, ratio_cpu = wall * dt / (peer_wall * peer_dt), cpu * dt / (peer_cpu * peer_dt)
        print(
            f"| {name} | {control} | {env.unwrapped.timestep * 1e3:g} | {wall:,.0f} | "
            f"{wall * dt:,.0f} ({peer_wall * peer_dt:,.0f}) | {ratio_wall:.2f} | {ratio_cpu:.2f} |"
        )
    print("\nPer physics step (CPU µs), SalamanderSwim-v0, random actions:")
    print(
        "| control | timestep (ms) | physics loop (compiled, water included) | water forces "
        "alone (≤) | rest (CPG, obs, info, Python) | total |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for control, kwargs in [*((c, {}) for c in CONTROLS), ("cpg", FINE)]:
        env = gym.make(SWIM, control=control, **kwargs)
        profile = physics_profile(env, steps)
        rest = profile["total"] - profile["physics"]
        print(
            f"| {control} | {env.unwrapped.timestep * 1e3:g} | {profile['physics']:.1f} | "
            f"{profile['water']:.1f} | {rest:.1f} | {profile['total']:.1f} |"
        )


def gaits(path: Path) -> None:
    """Speed against drive for swimming (default and 2 ms timestep) and walking; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stateful_rl.agents.base import write_atomic

    curves = {
        "swim, 5 ms": (SWIM_DRIVES, [constant_drive(SWIM, d, d)[0] for d in SWIM_DRIVES]),
        "swim, 2 ms": (SWIM_DRIVES, [constant_drive(SWIM, d, d, **FINE)[0] for d in SWIM_DRIVES]),
        "walk, 5 ms": (WALK_DRIVES, [constant_drive(WALK, d, d)[0] for d in WALK_DRIVES]),
        "walk, 2 ms": (WALK_DRIVES, [constant_drive(WALK, d, d, **FINE)[0] for d in WALK_DRIVES]),
    }
    print("\n| gait, timestep | drives | COM speed (m/s) |\n|---|---|---|")
    for label, (drives, speeds) in curves.items():
        listed = " / ".join(f"{d:g}" for d in drives), " / ".join(f"{v:.3f}" for v in speeds)
        print(f"| {label} | {listed[0]} | {listed[1]} |")
    print(
        "\n| drives left/right (500 steps) | heading change over the last 15 s (deg) |\n|---|---:|"
    )
    for env_id, left, right in (
        (SWIM, 4.5, 3.5),
        (SWIM, 3.5, 4.5),
        (WALK, 2.5, 1.5),
        (WALK, 1.5, 2.5),
    ):
        turn = constant_drive(env_id, left, right)[1]
        print(f"| {env_id.split('/')[1]} {left:g}/{right:g} | {turn:+.1f} |")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (drives, speeds) in curves.items():
        ax.plot(drives, speeds, "o-" if "5 ms" in label else "x--", label=label)
    ax.axvline(3.0, color="grey", ls=":")
    ax.set_xlabel("CPG drive d (both sides)")
    ax.set_ylabel("centre-of-mass speed (m/s)")
    ax.set_title("Salamander: walking (d ≤ 3) and swimming (d > 3) speed", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    data = io.BytesIO()
    fig.savefig(data, format="png")
    plt.close(fig)
    write_atomic(path, data.getvalue())
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="control steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many measurements")
    parser.add_argument("--gaits", type=Path, default=None, help="also write this speed PNG")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        raise ValueError("--steps and --repeats must be >= 1")
    speed_table(args.steps, args.repeats)
    if args.gaits is not None:
        gaits(args.gaits)


if __name__ == "__main__":
    main()
