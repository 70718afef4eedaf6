"""Fit the connectionist salamander CPG with CMA-ES, and draw its neuron activities.

``fit``: CMA-ES (the ``cma`` package; Ijspeert 2001 used a genetic algorithm) in the four
stages of ``neural_cpg_targets.STAGES`` (segmental oscillator, intersegmental coupling,
limbs, body motoneurons), each from the previous stage's best, then calibrates the motor map
against the 2007 CPG's joint amplitudes and writes the JSON the environments load (default:
the package's ``neural_cpg.json``). ``figure``: the motoneuron activities of several
segments and the limb oscillators at a swimming and a walking drive (like the paper's
figures). ``summary``: the fitted network's gait measures, the eigenvalues at its fixed
points, and the v1 environments' speed against drive and turn rates (drive differences and
the discrete turn actions) next to the 2007 CPG's.

    python -m stateful_rl.report.neural_cpg fit --out envs/salamander/neural_cpg.json
    python -m stateful_rl.report.neural_cpg figure --out docs/figures/neural_cpg.png
    python -m stateful_rl.report.neural_cpg summary
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

from stateful_rl.agents.base import write_atomic
from stateful_rl.envs.salamander.cpg import MotorMap, SalamanderCPG
from stateful_rl.envs.salamander.neural_cpg import (
    BODY_MOTOR,
    FITTED_PATH,
    LIMB_EXCITATORY,
    LIMB_MOTOR,
    SILENT_RATE,
    default_parameters,
    from_unit,
    to_unit,
)
from stateful_rl.envs.salamander.neural_cpg_targets import (
    STAGES,
    Stage,
    objective,
    simulate,
    target_errors,
)

# CMA-ES budget per stage (evaluations): enough for the objective to level off.
BUDGETS = {"segment": 2000, "body": 1200, "limbs": 3000, "motoneurons": 1200}
POPSIZE = 16
CALIBRATION_DRIVES = {"swim": 4.0, "walk": 2.0}
CONTROLS = ("cpg", "neural_cpg")
SWIM_DRIVES, WALK_DRIVES = (3.5, 4.0, 4.5, 5.0), (1.5, 2.0, 2.5)
TURN_DRIVES = (
    ("stateful_rl/SalamanderSwim-v1", 4.5, 3.5),
    ("stateful_rl/SalamanderSwim-v1", 3.5, 4.5),
    ("stateful_rl/SalamanderWalk-v1", 2.5, 1.5),
    ("stateful_rl/SalamanderWalk-v1", 1.5, 2.5),
)


def fit_stage(
    stage: Stage, base: dict[str, float], seed: int, budget: int, sigma: float = 0.2
) -> tuple[dict[str, float], float, int]:
    """CMA-ES over ``stage.free`` in the unit box from ``base``; the best parameters, their
    objective and the evaluations used."""
    import cma

    x0 = to_unit(base, stage.free)
    options = {
        "bounds": [0.0, 1.0],
        "seed": seed,
        "maxfevals": budget,
        "popsize": POPSIZE,
        "verbose": -9,
    }
    es = cma.CMAEvolutionStrategy(x0, sigma, options)
    start = time.process_time()
    while not es.stop():
        candidates = es.ask()
        es.tell(candidates, [objective(x, stage, base) for x in candidates])
        if es.countiter % 10 == 0:
            print(
                f"  {stage.name}: {es.countevals} evals, best {es.result.fbest:.4f}, "
                f"{time.process_time() - start:.0f} s CPU",
                flush=True,
            )
    best = from_unit(es.result.xbest, stage.free, base)
    return best, float(es.result.fbest), int(es.result.evaluations)


def half_range(signal: np.ndarray) -> float:
    """Half the peak-to-peak of a settled signal, averaged over its columns."""
    return float(np.mean(np.ptp(signal, axis=0)) / 2)


def calibrate_motor_map(parameters: dict[str, float]) -> dict[str, float]:
    """Motor-map scales that give the 2007 CPG's body amplitude when swimming (d = 4) and
    unit limb stride ``s`` when walking (d = 2); the limb activity scale is the walking limb
    E neurons' adaptation, so that g = 1 while the limbs walk."""
    reference = SalamanderCPG(n=1)
    reference.reset(np.random.default_rng(0))
    reference.set_drive(CALIBRATION_DRIVES["swim"], CALIBRATION_DRIVES["swim"])
    reference.advance(1000)
    theta, r = reference.advance(1000)
    body_reference = half_range(MotorMap()(theta, r)[:, 0, :8])
    drives = np.array([[CALIBRATION_DRIVES["swim"]] * 2, [CALIBRATION_DRIVES["walk"]] * 2])
    u, _ = simulate(parameters, drives)
    body = u[:, 0, BODY_MOTOR[0]] - u[:, 0, BODY_MOTOR[1]]
    protractor, retractor = u[:, 1, LIMB_MOTOR[0]], u[:, 1, LIMB_MOTOR[1]]
    limbs = (protractor - retractor) / (protractor + retractor + SILENT_RATE)
    # The adaptation ϑ low-passes the rate: over whole cycles its mean is the rate's mean.
    activity = u[:, 1, LIMB_EXCITATORY[0]] + u[:, 1, LIMB_EXCITATORY[1]]
    return {
        "body_gain": body_reference / half_range(body),
        "limb_scale": half_range(limbs),
        "activity_scale": 0.5 * float(activity.mean()),
    }


def limbs_from_segment(parameters: dict[str, float]) -> dict[str, float]:
    """``parameters`` with every limb neuron type, limb weight and limb drive weight copied
    from its body counterpart: the limb search starts from the segmental oscillator."""
    out = dict(parameters)
    for name, value in parameters.items():
        limb = name.replace("body_", "limb_", 1)
        if name.startswith("body_") and limb in out:
            out[limb] = value
    return out


def fit(seed: int, budgets: dict[str, int]) -> dict:
    """All stages from the defaults; the JSON document (parameters, motor map, objectives)."""
    parameters = default_parameters()
    report = {}
    for name, stage in STAGES.items():
        start = time.process_time()
        if name == "limbs":
            parameters = limbs_from_segment(parameters)
        parameters, best, evaluations = fit_stage(stage, parameters, seed, budgets[name])
        report[name] = {
            "objective": best,
            "evaluations": evaluations,
            "cpu_seconds": round(time.process_time() - start),
            "errors": target_errors(parameters, stage),
        }
        print(f"{name}: objective {best:.4f} after {evaluations} evaluations", flush=True)
    return {
        "source": "python -m stateful_rl.report.neural_cpg fit",
        "seed": seed,
        "parameters": parameters,
        "motor_map": calibrate_motor_map(parameters),
        "stages": report,
    }


def save_figure(path: Path, swim: float = 4.0, walk: float = 2.0, seconds: float = 4.0) -> None:
    """Motoneuron rates (left and right, segments 1, 3, 5, 7) and limb motoneurons
    (protractor minus retractor) at a swimming and a walking drive; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stateful_rl.envs.salamander.neural_cpg import load_fitted

    parameters = load_fitted()["parameters"]
    u, _ = simulate(parameters, np.array([[swim, swim], [walk, walk]]), duration=seconds)
    time_s = np.arange(u.shape[0]) * 0.01
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, height_ratios=[3, 1.4])
    for col, (label, d) in enumerate((("swimming", swim), ("walking", walk))):
        ax = axes[0, col]
        for row, k in enumerate(range(0, 8, 2)):
            offset = -1.3 * row
            ax.plot(time_s, u[:, col, BODY_MOTOR[0][k]] + offset, color="C0", lw=1)
            ax.plot(time_s, u[:, col, BODY_MOTOR[1][k]] + offset, color="C3", lw=1)
            ax.text(time_s[-1], offset + 0.3, f" seg {k + 1}", fontsize=8, va="center")
        ax.set_title(f"{label}, d = {d:g}: body motoneurons (blue left, red right)", fontsize=9)
        ax.set_yticks([])
        ax = axes[1, col]
        for limb, name in enumerate(("LF", "RF", "LH", "RH")):
            z = u[:, col, LIMB_MOTOR[0][limb]] - u[:, col, LIMB_MOTOR[1][limb]]
            ax.plot(time_s, z - 1.2 * limb, lw=1, label=name)
        ax.set_yticks([])
        ax.set_xlabel("time (s)")
        ax.set_title("limb motoneurons, protractor − retractor", fontsize=9)
        ax.legend(loc="upper right", ncol=4, fontsize=7)
    fig.suptitle("Connectionist salamander CPG (Ijspeert 2001 model, CMA-ES fit)")
    fig.tight_layout()
    data = io.BytesIO()
    fig.savefig(data, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, data.getvalue())


def summary(seconds: float) -> None:
    """Print the fitted network's gait measures, the eigenvalues at its fixed points, and the
    environments' (v1) centre-of-mass speed against drive, turn rate under drive differences
    and turn rate of every discrete turn action, next to the 2007 CPG's (markdown); each
    command held for ``seconds`` (``gaits.hold``)."""
    from stateful_rl.envs.salamander.gaits import SWIM, WALK, constant_drive, discrete_turn_rates
    from stateful_rl.envs.salamander.neural_cpg import build_network, eigenvalues, load_fitted
    from stateful_rl.envs.salamander.neural_cpg_targets import gait_measures

    fitted = load_fitted()
    for name, stage in fitted["stages"].items():
        errors = ", ".join(f"{k} {v:.3f}" for k, v in stage["errors"].items())
        objective, evaluations = stage["objective"], stage["evaluations"]
        print(f"- {name}: objective {objective:.4f} ({evaluations} evaluations): {errors}")
    parameters = fitted["parameters"]
    drives = (0.0, 1.0, *WALK_DRIVES, *SWIM_DRIVES)
    u, _ = simulate(parameters, np.array([[d, d] for d in drives]))
    m = gait_measures(u)
    print(
        "\n| drive | body f (Hz) | limb f (Hz) | lag/segment (rad) | wavelengths | "
        "min abs(L-R) (rad) | limb peak rate | RF, LH, RH phase vs LF (rad) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for k, d in enumerate(drives):
        lag = m["segment_lag"][k]
        limbs = ", ".join(f"{v:+.2f}" for v in m["limb_phase"][k, 1:])
        print(
            f"| {d:g} | {m['body_frequency'][k]:.3f} | {m['limb_frequency'][k]:.3f} | "
            f"{lag.min():.2f}-{lag.max():.2f} | {lag.sum() * 8 / 7 / (2 * np.pi):.2f} | "
            f"{np.abs(m['left_right'][k]).min():.2f} | {m['limb_peak'][k]:.3f} | {limbs} |"
        )
    net = build_network(parameters)
    print("\n| drive | leading eigenvalues of the Jacobian at the fixed point (1/s) |\n|---:|---|")
    for d in (0.0, 1.0, 2.0, 4.0):
        values = eigenvalues(net, np.array([d, d]))[:4]
        print(f"| {d:g} | {', '.join(f'{v:.2f}' for v in values)} |")
    print("\n| gait | drive | COM speed, 2007 CPG (m/s) | COM speed, neural CPG (m/s) |")
    print("|---|---:|---:|---:|")
    for gait, env_id, levels in (("walk", WALK, WALK_DRIVES), ("swim", SWIM, SWIM_DRIVES)):
        for d in levels:
            speeds = [constant_drive(env_id, d, d, c, seconds=seconds).speed for c in CONTROLS]
            print(f"| {gait} | {d:g} | {speeds[0]:.3f} | {speeds[1]:.3f} |")
    print("\n| env, drives left/right | turn rate, 2007 CPG (deg/s) | neural CPG (deg/s) |")
    print("|---|---:|---:|")
    for env_id, left, right in TURN_DRIVES:
        rates = [
            constant_drive(env_id, left, right, c, seconds=seconds).turn_rate for c in CONTROLS
        ]
        name = env_id.split("/")[1]
        print(f"| {name} {left:g}/{right:g} | {rates[0]:+.1f} | {rates[1]:+.1f} |")
    print("\n| env | level | turn | drives | 2007 CPG (deg/s) | neural CPG (deg/s) |")
    print("|---|---:|---|---|---:|---:|")
    for env_id in (SWIM, WALK):
        tables = [discrete_turn_rates(env_id, control=f"{c}_discrete") for c in CONTROLS]
        for old, new in zip(*tables, strict=True):
            print(
                f"| {env_id.split('/')[1]} | {old.level:g} | {old.turn} | {new.drives} | "
                f"{old.turn_rate:+.1f} | {new.turn_rate:+.1f} |"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit_parser = commands.add_parser("fit", help="CMA-ES fit, writes the parameter JSON")
    fit_parser.add_argument("--out", type=Path, default=FITTED_PATH)
    fit_parser.add_argument("--seed", type=int, default=1)
    fit_parser.add_argument("--budget-scale", type=float, default=1.0)
    figure_parser = commands.add_parser("figure", help="neuron activity figure (PNG)")
    figure_parser.add_argument("--out", type=Path, default=Path("docs/figures/neural_cpg.png"))
    summary_parser = commands.add_parser("summary", help="gait, eigenvalue and speed tables")
    summary_parser.add_argument("--seconds", type=float, default=20.0, help="per held command")
    args = parser.parse_args(argv)
    if args.command == "fit":
        if args.budget_scale <= 0:
            raise ValueError(f"--budget-scale must be > 0, got {args.budget_scale}")
        budgets = {k: max(1, round(v * args.budget_scale)) for k, v in BUDGETS.items()}
        write_atomic(args.out, (json.dumps(fit(args.seed, budgets), indent=1) + "\n").encode())
    elif args.command == "figure":
        save_figure(args.out)
    else:
        if not 10.0 <= args.seconds <= 600.0:
            raise ValueError(f"--seconds must be in [10, 600], got {args.seconds}")
        summary(args.seconds)
        return
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
