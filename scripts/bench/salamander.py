"""Speed of the salamander environments next to Gymnasium's ``Swimmer-v5``, and its gaits.

Prints, per environment and control: control steps per wall second, simulated seconds per
wall second and its ratio to ``Swimmer-v5``, by wall time and by this process's CPU time
(the CPU ratio is what an idle machine shows; each measured alternately with the peer,
best of ``--repeats``, so that the load of a shared machine hits both alike); where one
physics step's time goes (the physics loop with the water forces, the water forces alone,
and the rest of the environment step: CPG, motor map, observation, info, Python); the cost
of the public-API physics loop (``STATEFUL_RL_FORCE_FALLBACK=1``) against the compiled one;
and the per-environment throughput of the native vector environment (``gym.make_vec``,
``vectorization_mode="vector_entry_point"``) against one environment. Random actions; one
process, one thread. ``--gaits PNG`` also measures the centre-of-mass speed against the CPG
drive (swimming and walking at 5 and 2 ms), the turn rate of every ``cpg_discrete`` turn
action, and plots the speeds.

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
from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE
from stateful_rl.envs.salamander.gaits import FINE, SWIM, WALK, constant_drive, discrete_turn_rates
from stateful_rl.envs.salamander.registration import SALAMANDER_TASKS
from stateful_rl.envs.salamander.settings import CONTROLS
from stateful_rl.report.results import add_results_arguments, recorded

SWIM_DRIVES, WALK_DRIVES = (3.5, 4.0, 4.5, 5.0), (1.5, 2.0, 2.5, 3.0)
VERSION = "v1"


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


def vector_rates(env: gym.vector.VectorEnv, steps: int, seed: int = 0) -> tuple[float, float]:
    """Sub-env steps per wall second and per CPU second of a vector env (autoresets
    included), over ``steps`` steps of all its sub-envs."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    wall, cpu = time.perf_counter(), time.process_time()
    for action in actions:
        env.step(action)
    n = steps * env.num_envs
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def best_rates(env: gym.Env, peer: gym.Env, steps: int, repeats: int) -> np.ndarray:
    """Best-of-``repeats`` [wall, CPU] rates of ``env`` and ``peer``, shape [2, 2], measured
    alternately so that a shared machine's load hits both alike."""
    rates = [step_rates(e, steps) for _ in range(repeats) for e in (env, peer)]
    return np.array(rates).reshape(repeats, 2, 2).max(axis=0)


def physics_profile(env: gym.Env, steps: int) -> dict[str, float]:
    """CPU microseconds per physics step: the physics loop as the environment runs it
    (contact gate, ``mj_step1``, water forces, ``mj_step2``), the water forces alone (one
    ``WaterForces.apply`` call from Python: an upper bound, the call itself included), and
    the whole environment step divided by ``frame_skip``."""
    env = env.unwrapped
    env.reset(seed=0)
    for _ in range(50):  # reach a swimming state
        env.step(env.action_space.sample())
    s = env.settings
    n = steps * s.frame_skip
    targets = np.tile(env.data.ctrl, (1, n // s.steps_per_cpg, 1))
    start = time.process_time()
    env.physics.simulate(targets, s.steps_per_cpg, s.cpg_dt)
    physics = (time.process_time() - start) / n
    start = time.process_time()
    for _ in range(n):
        env.water.apply()
    water = (time.process_time() - start) / n
    total = 1.0 / (step_rates(env, steps)[1] * s.frame_skip)
    return {"physics": physics * 1e6, "water": water * 1e6, "total": total * 1e6}


def speed_table(steps: int, repeats: int) -> None:
    swimmer = gym.make("Swimmer-v5")
    rows = [(name, control, {}) for name, _, _ in SALAMANDER_TASKS for control in CONTROLS]
    rows += [
        (name, control, FINE)
        for name in ("SalamanderSwim", "SalamanderWalk")
        for control in ("cpg", "joints")
    ]
    print(
        "| environment | control | timestep (ms) | control steps/s | simulated s / wall s "
        "(Swimmer-v5) | ratio, wall | ratio, CPU |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, control, kwargs in rows:
        env = gym.make(f"stateful_rl/{name}-{VERSION}", control=control, **kwargs)
        (wall, cpu), (peer_wall, peer_cpu) = best_rates(env, swimmer, steps, repeats)
        dt, peer_dt = env.unwrapped.control_dt, swimmer.unwrapped.dt
        ratio_wall, ratio_cpu = wall * dt / (peer_wall * peer_dt), cpu * dt / (peer_cpu * peer_dt)
        print(
            f"| {name}-{VERSION} | {control} | {env.unwrapped.settings.timestep * 1e3:g} | "
            f"{wall:,.0f} | {wall * dt:,.0f} ({peer_wall * peer_dt:,.0f}) | {ratio_wall:.2f} | "
            f"{ratio_cpu:.2f} |"
        )
    print(f"\nPer physics step (CPU µs), {SWIM}, random actions:")
    print(
        "| control | timestep (ms) | physics loop (water included) | water forces "
        "alone (≤) | rest (CPG, obs, info, Python) | total |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for control, kwargs in [*((c, {}) for c in CONTROLS), ("cpg", FINE)]:
        env = gym.make(SWIM, control=control, **kwargs)
        profile = physics_profile(env, steps)
        rest = profile["total"] - profile["physics"]
        print(
            f"| {control} | {env.unwrapped.settings.timestep * 1e3:g} | "
            f"{profile['physics']:.1f} | {profile['water']:.1f} | {rest:.1f} | "
            f"{profile['total']:.1f} |"
        )


def fallback_cost(steps: int, repeats: int) -> None:
    """Control steps per CPU second with the compiled and the public physics loop."""
    print("\nPhysics loop: compiled (private MuJoCo addresses) against the public-API fallback")
    print("| environment | control | compiled steps/s (CPU) | public steps/s (CPU) | slowdown |")
    print("|---|---|---:|---:|---:|")
    for env_id in (SWIM, WALK):
        for control in ("cpg", "joints"):
            compiled = gym.make(env_id, control=control)
            os.environ[FORCE_FALLBACK_VARIABLE] = "1"
            try:
                public = gym.make(env_id, control=control)
            finally:
                del os.environ[FORCE_FALLBACK_VARIABLE]
            assert public.unwrapped.physics.backend == "public"
            (_, fast), (_, slow) = best_rates(compiled, public, steps, repeats)
            print(
                f"| {env_id.split('/')[1]} | {control} | {fast:,.0f} | {slow:,.0f} | "
                f"{fast / slow:.2f}× |"
            )


def vector_throughput(steps: int, repeats: int, num_envs: int = 16) -> None:
    """Sub-env steps per CPU second of the native vector env against one env."""
    print(f"\nNative vector env, {num_envs} sub-envs, against one env (CPU time, one thread)")
    print("| environment | control | one env steps/s | vector steps/s per sub-env | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, _, _ in SALAMANDER_TASKS:
        env_id = f"stateful_rl/{name}-{VERSION}"
        for control in CONTROLS:
            single = gym.make(env_id, control=control)
            vector = gym.make_vec(
                env_id, num_envs, vectorization_mode="vector_entry_point", control=control
            )
            one, many = 0.0, 0.0
            for _ in range(repeats):  # alternately, best of each
                one = max(one, step_rates(single, steps)[1])
                many = max(many, vector_rates(vector, max(1, steps // num_envs))[1])
            print(f"| {name}-{VERSION} | {control} | {one:,.0f} | {many:,.0f} | {many / one:.2f} |")


def gaits(path: Path) -> None:
    """Speed against drive (default and 2 ms timestep), turn rates; a PNG of the speeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stateful_rl.agents.base import write_atomic

    def speeds(env_id: str, drives, **kwargs) -> list[float]:
        return [constant_drive(env_id, d, d, **kwargs).speed for d in drives]

    curves = {
        "swim, 5 ms": (SWIM_DRIVES, speeds(SWIM, SWIM_DRIVES)),
        "swim, 2 ms": (SWIM_DRIVES, speeds(SWIM, SWIM_DRIVES, **FINE)),
        "walk, 5 ms": (WALK_DRIVES, speeds(WALK, WALK_DRIVES)),
        "walk, 2 ms": (WALK_DRIVES, speeds(WALK, WALK_DRIVES, **FINE)),
    }
    print("\n| gait, timestep | drives | COM speed (m/s) |\n|---|---|---|")
    for label, (drives, values) in curves.items():
        listed = " / ".join(f"{d:g}" for d in drives), " / ".join(f"{v:.3f}" for v in values)
        print(f"| {label} | {listed[0]} | {listed[1]} |")
    print("\n| drives left/right (cpg, 20 s) | turn rate after 5 s (deg/s) |\n|---|---:|")
    for env_id, left, right in ((SWIM, 4.5, 3.5), (SWIM, 3.5, 4.5), (WALK, 2.5, 1.5)):
        rate = constant_drive(env_id, left, right).turn_rate
        print(f"| {env_id.split('/')[1]} {left:g}/{right:g} | {rate:+.1f} |")
    print(
        "\n| environment | cpg_discrete action | level | turn | drives (left, right) | "
        "turn rate (deg/s, + = left) | path speed (m/s) |\n|---|---:|---:|---|---|---:|---:|"
    )
    for env_id in (SWIM, WALK):
        for rate in discrete_turn_rates(env_id):
            drives = "({:g}, {:g})".format(*rate.drives)
            print(
                f"| {env_id.split('/')[1]} | {rate.action} | {rate.level:g} | {rate.turn} | "
                f"{drives} | {rate.turn_rate:+.1f} | {rate.path_speed:.3f} |"
            )
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (drives, values) in curves.items():
        ax.plot(drives, values, "o-" if "5 ms" in label else "x--", label=label)
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
    parser.add_argument(
        "--only",
        choices=("speed", "fallback", "vector"),
        default=None,
        help="run one of the timing tables only",
    )
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        raise ValueError("--steps and --repeats must be >= 1")
    tables = {  # name: (table, title of its results section)
        "speed": (speed_table, "Salamander: simulation speed"),
        "fallback": (fallback_cost, "Salamander: compiled physics loop vs public API"),
        "vector": (vector_throughput, "Salamander: native vector env"),
    }
    for name, (table, title) in tables.items():
        if args.only in (None, name):
            with recorded(args.results_md, f"salamander-{name}", title):
                table(args.steps, args.repeats)
    if args.gaits is not None:
        with recorded(args.results_md, "salamander-gaits", "Salamander: gaits and turning"):
            gaits(args.gaits)


if __name__ == "__main__":
    main()
