"""The lecture's claims, reproduced: ``docs/seed_claims.md`` with figures and numbers.

Each claim's computation, verdict and deliberate breaks live in ``stateful_rl.claims``;
this script runs them, draws the figures and writes the report. Claim 8 trains the catch
agents and also reads saved agent runs (``--saved-runs``). Results are kept in
``<docs>/seed_claims.json`` so that rerunning some claims keeps the others' sections.

    python -m stateful_rl.report.seed_claims                     # all claims, full budgets
    python -m stateful_rl.report.seed_claims --claims 2 4 7      # some claims (others kept)
    python -m stateful_rl.report.seed_claims --quick --docs /tmp/claims   # small budgets
    python -m stateful_rl.report.seed_claims --no-breaks         # skip the break checks

``--docs`` defaults to the repository's ``docs/`` (next to this package's source).
Torch runs at one thread (set here); run with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt
import numpy as np
import torch

from stateful_rl.agents.base import write_atomic
from stateful_rl.claims import CLAIMS, hmm_rnn, recall_race, reservoir_settings
from stateful_rl.claims import agents as agents_claim
from stateful_rl.claims.base import Verdict, applied
from stateful_rl.claims.linear_esn import boundaries

REPO_DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = "python -m stateful_rl.report.seed_claims --claims {n}"
NFQ_RUN = "nfq_cartpole_novel.json"
DQN_RUN = "rdqn_lstm_tracking"
NFQ_AGENTS = {"esn-nfq": "ESN-NFQ (300-unit reservoir, ridge head)", "nfq": "feed-forward NFQ"}


@dataclass
class Section:
    """One claim's section: the verdict, its numbers, the rendered table and figures, the
    breaks and whether each was caught (None: not checked here), CPU seconds."""

    number: int
    title: str
    claim: str
    criterion: str
    holds: bool
    numbers: dict[str, Any]
    table: str
    figures: list[str]
    setup: str
    breaks: list[dict[str, Any]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    quick: bool = False


def save_figure(fig: plt.Figure, path: Path) -> None:
    """PNG of ``fig`` written atomically; closes the figure."""
    data = io.BytesIO()
    fig.tight_layout()
    fig.savefig(data, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, data.getvalue())


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table; floats with 4 significant digits, ``|`` in text escaped."""

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples and non-string keys made JSON-able."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def heatmap(
    fig: plt.Figure,
    ax: plt.Axes,
    values: np.ndarray,
    columns: tuple[float, ...],
    rows: tuple[float, ...],
    level: float,
    colours: dict[str, Any],
    line: str,
    **labels: str,
) -> None:
    """``values[rows, columns]`` as an image with a contour at ``level`` and a colour bar."""
    image = ax.imshow(values, aspect="auto", origin="lower", **colours)
    ax.contour(values, levels=[level], colors=line, linewidths=1.5)
    ax.set(
        xticks=range(len(columns)),
        xticklabels=columns,
        yticks=range(len(rows)),
        yticklabels=rows,
        **labels,
    )
    fig.colorbar(image, ax=ax)


# ---------------------------------------------------------------- renderers: one per claim
Rendered = tuple[str, list[str], str]  # table, figure names, setup text


def render_tracking(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    ratios = verdict.numbers["ratio_to_bayes"]
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 3.8), width_ratios=[2, 1])
    trace = evidence["trace"]
    t = np.arange(len(trace["true"]))
    ax.fill_between(
        t, -1.2, 1.2, where=~trace["visible"], color="0.85", step="mid", label="occluded"
    )
    ax.plot(t, trace["true"], "k", lw=2, label="true position")
    ax.plot(t, trace["kalman"], "k:", label="Kalman")
    for name in ("per-frame", "LSTM"):
        if name in trace:
            ax.plot(t, trace[name], label=name)
    ax.set(xlabel="step (0.1 s)", ylabel="position", ylim=(-1.2, 1.2), title="test sequence 0")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    bars.bar(list(ratios), list(ratios.values()), color="C1")
    bars.set_yscale("log")
    bars.axhline(1.0, color="k", ls=":", lw=1)
    bars.set(ylabel="occluded MSE ÷ Kalman", title="all test sequences")
    bars.tick_params(axis="x", labelrotation=30, labelsize=8)
    save_figure(fig, figures / "claim1_tracking.png")
    rows = [[n, v[0], v[1], ratios[n]] for n, v in evidence["mse"].items()]
    rows.append(["Kalman filter (true model)", *evidence["kalman"], 1.0])
    table = markdown_table(["model", "occluded MSE", "visible MSE", "occluded ÷ Kalman"], rows)
    table += (
        f"\n\nMemoryless ÷ best recurrent (occluded MSE): "
        f"{verdict.numbers['memoryless_over_best_recurrent']:.3g}; best recurrent ÷ Bayes "
        f"filter: {verdict.numbers['best_recurrent_over_bayes']:.3g}."
    )
    setup = (
        "OccludedTracking's 1-D oscillator (`TrackingTask(dynamics='oscillator')`), "
        f"{evidence['occluded_fraction']:.0%} of test steps occluded; models of "
        "`stateful_rl.claims.tracking.TRAINED` trained by `train_encoder` (Adam 3e-3, cosine "
        "decay, seed 0; the encoder benchmark `python -m stateful_rl.bench.encoders tracking` "
        "runs the longer version). References passed to the verdict: the Kalman filter of the "
        "true model as the Bayes filter, the per-frame network as the memoryless reference."
    )
    return table, ["claim1_tracking.png"], setup


def render_euler(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, axes = plt.subplots(1, len(evidence), figsize=(5.5 * len(evidence), 3.5))
    for ax, (key, run) in zip(np.atleast_1d(axes), evidence.items(), strict=True):
        ax.plot(run["t"], run["exact"][:, 0], "k", lw=2, label="exact solution")
        ax.plot(run["t"], run["euler"][:, 0], "C0o", ms=4, label="forward Euler")
        ax.plot(run["t"], run["rnn"][:, 0], "C1.", ms=3, label="ElmanEncoder.from_dynamics")
        ax.set(
            xlabel="time (s)",
            ylabel="position r₁",
            title=f"Δ{key}: ρ(I + ΔtA) = {run['radius']:.3f}",
        )
        if run["radius"] > 1:
            ax.set_yscale("symlog", linthresh=1.0)
        ax.legend(fontsize=8)
    save_figure(fig, figures / "claim2_dynamics.png")
    rows = [
        [
            key.split("=")[1],
            n["spectral_radius"],
            n["max_rnn_minus_euler_relative"],
            n["max_euler_minus_exact"],
        ]
        for key, n in verdict.numbers.items()
    ]
    table = markdown_table(
        ["Δt (s)", "ρ(I + ΔtA)", "max |RNN − Euler| ÷ max |Euler|", "max |Euler − exact|"], rows
    )
    setup = (
        "Damped oscillator ω = 2π/5 rad/s, ζ = 0.1 (OccludedTracking's oscillator), r₀ = [1, 0], "
        "zero input, 20 s; the RNN is `ElmanEncoder.from_dynamics(A, Δt, dtype=float64)` as "
        "built, its weights untouched."
    )
    return table, ["claim2_dynamics.png"], setup


def render_gradients(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    for i, (modulus, run) in enumerate(evidence["linear"].items()):
        lags = np.arange(1, len(run["norms"]) + 1)
        ax.semilogy(lags, run["norms"], color=f"C{i}", label=f"|λ| = {modulus}")
        anchor = run["norms"][19]  # the fit starts at lag 20
        ax.semilogy(lags, anchor * modulus ** (lags - 20.0), "k:", lw=1)
    ax.set(xlabel="lag k", ylabel="‖∂r_T/∂r_{T−k}‖", title="(a) linear RNN; dotted: |λ|^k")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    factors = np.log(evidence["map"])
    lim = np.abs(factors).max()
    heatmap(
        fig,
        ax,
        factors,
        evidence["map_inputs"],
        evidence["map_moduli"],
        0.0,
        dict(cmap="RdBu_r", vmin=-lim, vmax=lim),
        "k",
        xlabel="input scale (std of N(0, σ²) inputs)",
        ylabel="|λ_1| of W_rec",
        title="(b) tanh: log per-step factor (black: 1)",
    )
    settings = sorted(evidence["clip_factors"], key=lambda k: evidence["clip_factors"][k])
    for ax, (modulus, scale) in zip((axes[1, 0], axes[1, 1]), settings, strict=False):
        factor = evidence["clip_factors"][(modulus, scale)]
        for i, ((m, s, lr, clip), losses) in enumerate(evidence["clipping"].items()):
            if (m, s) == (modulus, scale):
                style = "-" if clip else "--"
                label = f"lr {lr:g}, {'clip 1' if clip else 'no clip'}"
                ax.semilogy(losses, color=f"C{i // 2}", ls=style, lw=1, label=label)
        ax.set(
            xlabel="update",
            ylabel="MSE (curve ends: diverged)",
            title=f"recall at lag 20: |λ| {modulus}, input {scale}, factor {factor:.3g}/step",
        )
        ax.legend(fontsize=7)
    for ax in axes[1, len(settings) :]:
        ax.axis("off")
    save_figure(fig, figures / "claim3_gradients.png")
    rows = [
        [m, run["eigenvalue"], run["factor"], run["factor"] / run["eigenvalue"] - 1]
        for m, run in evidence["linear"].items()
    ]
    table = markdown_table(
        ["nominal |λ_1|", "measured |λ_1|", "fitted factor per step", "relative error"], rows
    )
    map_rows = [
        [m, *[f"{f:.3f}" for f in row]]
        for m, row in zip(evidence["map_moduli"], evidence["map"], strict=True)
    ]
    table += "\n\nTanh: fitted per-step factor of ‖∂r_T/∂s_{T−k}‖ (> 1: explodes)\n\n"
    table += markdown_table(["|λ_1| \\ input scale", *evidence["map_inputs"]], map_rows)
    clip_rows = []
    for (m, s, lr, clip), losses in evidence["clipping"].items():
        finite = losses[np.isfinite(losses)]
        last = float(np.mean(losses[-20:])) if np.isfinite(losses[-20:]).all() else math.inf
        clip_rows.append(
            [
                f"|λ| {m}, input {s}",
                lr,
                "1" if clip else "none",
                float(losses[0]),
                float(finite.max()) if finite.size else math.inf,
                last,
            ]
        )
    table += "\n\nClipping: recall of the value shown 20 steps earlier, SGD\n\n"
    table += markdown_table(
        [
            "setting",
            "lr",
            "clip",
            "first loss",
            "largest finite loss",
            "mean of last 20 (inf: diverged)",
        ],
        clip_rows,
    )
    setup = (
        "Elman RNN, eigen init (Gaussian W_rec rescaled to the leading |λ|, seed 0), float64, "
        "hidden 64; ‖∂r_T/∂s_{T−k}‖ by `gradient_norms_through_time` after a 100-step "
        "washout, the per-step factor fitted on lags 20–100 (`growth_factor`). Linear σ: "
        "inputs 0.1·N(0, 1) (a linear RNN's Jacobian does not depend on them). Tanh map: "
        "inputs σ·N(0, 1). Clipping: hidden 64, batches of 32, 400 SGD updates, gradient-norm "
        "clip 1 against none, in a setting the map marks as exploding and in one below 1."
    )
    return table, ["claim3_gradients.png"], setup


def render_echo_state(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6))
    for rho, d in evidence["distances"].items():
        ax.semilogy(np.maximum(d, 1e-18), label=f"ρ = {rho}")
    ax.set(
        xlabel="step",
        ylabel="RMS distance of the two states",
        title=f"(a) echo state property, N = {evidence['units']}",
    )
    ax.legend(fontsize=8)
    fit = evidence["readout"]
    for k, curve in enumerate(fit["curves"]):
        bx.semilogy(np.asarray(curve) - fit["closed_form_loss"] + 1e-16, lw=1, label=f"start {k}")
    bx.set(
        xlabel="L-BFGS function evaluation",
        ylabel="loss − closed-form loss",
        title=f"(b) ridge readout, N = {evidence['ridge_units']}",
    )
    bx.legend(fontsize=8)
    save_figure(fig, figures / "claim4_esn.png")
    rows = [
        [rho, float(d[0]), float(d[len(d) // 3]), float(d[-1])]
        for rho, d in evidence["distances"].items()
    ]
    steps = len(next(iter(evidence["distances"].values())))
    table = markdown_table(["ρ", "distance at step 0", f"step {steps // 3}", f"step {steps}"], rows)
    table += (
        "\n\n"
        + markdown_table(
            ["start", "‖w − w_closed‖ / ‖w_closed‖", "loss"],
            [
                [k, d, loss]
                for k, (d, loss) in enumerate(
                    zip(fit["relative_distance"], fit["loss"], strict=True)
                )
            ],
        )
        + f"\n\nClosed-form (`RidgeReadout`) loss: {fit['closed_form_loss']:.6g}"
    )
    setup = (
        "`EchoStateEncoder` (leak 0.3, 10% connectivity, float64), two initial states uniform "
        "in [−1, 1]^N, input uniform(−1, 1). Readout: states → next Mackey-Glass value "
        "(1 100 steps after a 100-step washout), ridge β = 1 (on XᵀX), no bias, closed form by "
        "`RidgeReadout` against L-BFGS from N(0, 10²) initial weights (larger reservoirs make "
        "XᵀX + βI so ill-conditioned that L-BFGS stalls before 1e-5). ρ > 1 may or may not "
        "keep the property, depending on the input (claim 10)."
    )
    return table, ["claim4_esn.png"], setup


def render_recall(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    cap, lags = evidence["cap"], sorted(evidence["lags"])
    best = verdict.numbers["best"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4))

    def draw(axis: plt.Axes, label: str, points: dict[int, Any], style: str) -> None:
        xs = [lag for lag in lags if lag in points]
        per_seed = [[cap if u is None else u for u in points[lag][-1]] for lag in xs]
        med = [float(np.median(p)) for p in per_seed]
        line = axis.plot(xs, med, style, label=label)[0]
        for lag, p in zip(xs, per_seed, strict=True):
            axis.plot([lag, lag], [min(p), max(p)], color=line.get_color(), lw=1)
        missed = [lag for lag in xs if None in points[lag][-1]]
        axis.plot(missed, [cap] * len(missed), "x", color=line.get_color(), ms=9)

    for family, points in best.items():
        draw(ax, f"{family} (best variant and lr)", points, "o-")
    for model in recall_race.MODELS:
        points = {
            lag: found
            for lag in lags
            if (found := recall_race.best_variant(evidence, (model,), lag))
        }
        if points:
            draw(bx, model, points, ".-")
    for axis, title in ((ax, "families"), (bx, "every variant at its best lr")):
        axis.axhline(cap, color="k", ls=":", lw=1)
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="lag between cue and answer (steps)",
            ylabel=f"updates to {evidence['threshold']:.0%} accuracy",
            title=title,
        )
        axis.legend(fontsize=7)
    save_figure(fig, figures / "claim5_recall.png")

    def cell(found: Any) -> str:
        if found is None:
            return "–"
        model, lr, per_seed = found
        seeds = " / ".join("miss" if u is None else str(u) for u in per_seed)
        return f"{model}, lr {lr:g}: {seeds}"

    rows = []
    for lag in lags:
        ratio = verdict.numbers["ratios"].get(lag, {})
        text = "–"
        if ratio:
            text = f"{ratio['elman_over_lstm']:.3g}" + ("+" if ratio["elman_missed"] else "")
        rows.append([lag, *[cell(best.get(f, {}).get(lag)) for f in recall_race.FAMILIES], text])
    table = markdown_table(
        [
            "lag",
            *[f"best {f}: updates per seed" for f in recall_race.FAMILIES],
            "Elman ÷ LSTM (medians; +: Elman missed, a lower bound)",
        ],
        rows,
    )
    setup = (
        f"Cue-recall task (`stateful_rl.claims.cue_task`): ±1 cue at step 0, N(0, 1) noise in a "
        f"second channel, the class read at step `lag`. Every variant: hidden 32, batches of 32, "
        f"Adam with gradient-norm clip 1, learning rates {list(evidence['rates'])}, seeds "
        f"{list(evidence['seeds'])}, at most {cap} updates, accuracy on 512 fresh sequences every "
        "25 updates; a variant's learning rate (and for a family its variant) is chosen per lag "
        "by the median over seeds (a miss counts as twice the cap). Elman variants: eigen init "
        "at |λ| 0.95 and 0.99, orthogonal; LSTM: forget bias 1 and chrono init (Tallec & "
        "Ollivier 2018); GRU: torch's default."
    )
    return table, ["claim5_recall.png"], setup


def render_lrp(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
    shown = np.arange(12)
    for ax, channel, name in ((axes[0], 0, "cue channel"), (axes[1], 1, "noise channel")):
        r = evidence["relevance"][:, shown, channel].T
        lim = np.abs(evidence["relevance"][:, shown]).max()
        ax.imshow(r, aspect="auto", cmap="bwr", vmin=-lim, vmax=lim)
        ax.plot(evidence["when"][shown], shown, "kx", ms=6)
        ax.set(ylabel=f"sequence\n({name})")
    axes[0].set_title("LRP relevance of the LSTM's answer (× = cue step)")
    axes[1].set_xlabel("step")
    save_figure(fig, figures / "claim6_lrp_cue.png")
    n = verdict.numbers
    rows = [
        ["cue task: test accuracy", n["accuracy"]],
        [
            "max |Σ relevance − score| ÷ mean |score| (bias_factor 1, ε 1e-12, float64)",
            n["conservation_max_rel_error"],
        ],
        ["mean fraction of |relevance| on the cue step (30 steps)", n["fraction_on_cue_step_mean"]],
        ["sequences whose most relevant step is the cue step", n["argmax_is_cue_step"]],
    ]
    names = ["claim6_lrp_cue.png"]
    agent = evidence.get("agent")
    if agent is not None:
        from stateful_rl.report.explain_agent import LABELS

        rows += [
            ["agent: mean return of the explained greedy episodes", agent["episode_return_mean"]],
            [
                "agent: occluded decisions explained (episodes)",
                f"{agent['decisions']} ({agent['episodes']})",
            ],
        ]
        for method, label in LABELS.items():
            f, k = agent[method], agent["last_visible_steps"]
            shares = (f["all_features"], f["target_features"], f["uniform_all"])
            rows.append(
                [
                    f"agent, {label}: share of |R| on the last {k} visible steps, all features "
                    "/ target features / even spread",
                    " / ".join(f"{v:.3f}" for v in shares),
                ]
            )
        names.append("explain_agent.png")
    setup = (
        "Cue task: a ±1 cue at a random step in [0, 20) of 30, noise channel N(0, 1), LSTM "
        "hidden 16 with chrono init, seed 0; LRP with ε = 1e-3, bias_factor 0 for the heatmap. "
        "The agent figure (a trained recurrent DQN on OccludedTracking-v0, LRP beside "
        "gradient×input and integrated gradients) is made by "
        "`python -m stateful_rl.report.explain_agent` from the saved run."
    )
    return markdown_table(["what", "value"], rows), names, setup


def render_cpg(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    from stateful_rl.report.salamander_cpg import save_figure as cpg_figure

    cpg_figure(evidence["ramp"], figures / "claim7_cpg.png")
    rows = [
        [f"{label} (d ∈ [{low}, {high}])", *evidence["gaits"][label].values()]
        for label, (low, high) in (("walking", (1.8, 2.2)), ("swimming", (3.8, 4.2)))
    ]
    table = markdown_table(
        ["gait", "body Hz", "limb Hz", "max limb output", "mean neighbour phase lag (rad)"], rows
    ) + (
        f"\n\nLimb output below 1e-3 from drive d = {evidence['switch_drive']:.3f} on (the "
        "amplitude decays with the critically damped a = 20 dynamics once the drive passes 3)."
    )
    seconds = evidence["ramp"]["time"][-1] + evidence["ramp"]["time"][1]
    setup = (
        f"`stateful_rl.claims.cpg_gaits.drive_ramp` ({seconds:g} s ramp, dt 0.01 s, seed 0). "
        "Frequencies from the phase derivative; the phase lag is between neighbouring left "
        "body oscillators (2π/8 ≈ 0.785 rad for the travelling wave of one body length)."
    )
    return table, ["claim7_cpg.png"], setup


def render_esn_kernel(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    c, mg = evidence["convergence"], evidence["mackey_glass"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    widths = np.array(list(c["errors"]), dtype=float)
    errors = np.array(list(c["errors"].values()))
    ax.loglog(widths, errors, "o-", label=f"measured (slope {c['slope']:.3f})")
    ax.loglog(widths, errors[0] * np.sqrt(widths[0] / widths), "k:", label="∝ N^(-1/2)")
    ax.set(
        xlabel="reservoir size N",
        ylabel="‖K_N − K_∞‖_F / ‖K_∞‖_F",
        title="(a) reservoir kernel → recurrent kernel",
    )
    ax.legend(fontsize=8)
    sizes = list(mg["esn"])
    bx.semilogx(sizes, list(mg["esn"].values()), "o-", label="erf ESN, ridge readout")
    bx.axhline(mg["limit_kernel"], color="k", ls="--", label="kernel ridge, limit kernel (N = ∞)")
    bx.set(
        xlabel="reservoir size N",
        ylabel="test NRMSE",
        title=f"(b) Mackey-Glass, {evidence['horizon']} step(s) ahead",
    )
    bx.legend(fontsize=8)
    save_figure(fig, figures / "claim9_esn_kernel.png")
    n = verdict.numbers
    rows = [
        [
            "smallest ÷ largest Gram eigenvalue: limit kernel / erf reservoir / EchoStateEncoder",
            " / ".join(f"{v:.3g}" for v in n["min_eig_ratios"]),
        ],
        [
            "ridge (primal) vs kernel ridge (dual): max relative difference of test predictions",
            n["max_relative_difference"],
        ],
        ["log-log slope of the kernel error against N", n["slope"]],
        *[[f"relative kernel error at N = {w}", e] for w, e in n["errors"].items()],
        *[[f"Mackey-Glass test NRMSE, erf ESN N = {w}", e] for w, e in n["nrmse_esn"].items()],
        ["Mackey-Glass test NRMSE, kernel ridge with the limit kernel", n["nrmse_limit_kernel"]],
    ]
    s = evidence["scales"]
    setup = (
        f"erf reservoir without leak, σ_r = {s['recurrent']}, σ_i = {s['inputs']}, σ_b = "
        f"{s['bias']}, i.i.d. Gaussian weights, states scaled by 1/√N. Gram matrices between "
        "the final states of 16 uniform(−1, 1) sequences of 30 steps, errors averaged over "
        "independent reservoirs per N. Primal vs dual: `EchoStateEncoder` (N = 300, float64) "
        f"with `RidgeReadout` (β = {evidence['ridge']:g}, no bias) against "
        "`X_test Xᵀ (X Xᵀ + βI)⁻¹ y` on Mackey-Glass. Mackey-Glass race: standardised series, "
        f"1 000 training and 500 test steps, same β; the limit kernel between every pair of "
        "time steps by the row recursion `limit_gram_steps`."
    )
    return markdown_table(["what", "value"], rows), ["claim9_esn_kernel.png"], setup


def render_linear_esn(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (rho, run) in enumerate(evidence["linear"].items()):
        steps = np.arange(len(run["zero"]))
        ax.semilogy(steps, run["zero"], color=f"C{i}", label=f"ρ = {rho}")
        ax.semilogy(steps, run["uniform"], color=f"C{i}", lw=3, alpha=0.3)
        start = evidence["fit_from"]
        reference = run["zero"][start] * rho ** (steps - float(start))
        ax.semilogy(steps, reference, color=f"C{i}", ls=":", lw=1)
    ax.set(
        xlabel="step",
        ylabel="‖h_t − h'_t‖",
        ylim=(1e-30, 1e20),
        title="(a) linear ESN: zero input (line), uniform input (wide), ρ^t (dotted)",
    )
    ax.legend(fontsize=7)
    final = np.log10(np.maximum(evidence["tanh_final"], 1e-30))
    heatmap(
        fig,
        bx,
        final,
        evidence["input_scalings"],
        evidence["tanh_radii"],
        np.log10(evidence["converged"]),
        dict(cmap="viridis"),
        "w",
        xlabel="input scaling",
        ylabel="spectral radius ρ",
        title="(b) tanh ESN: log10 final distance (white: 1e-8)",
    )
    save_figure(fig, figures / "claim10_linear_esn.png")
    n = verdict.numbers
    rows = [[rho, n["exact_radius"][rho], f, f / rho - 1] for rho, f in n["linear_factor"].items()]
    table = markdown_table(
        [
            "nominal ρ",
            "exact ρ (dense eigenvalues)",
            "fitted factor per step",
            "relative error to nominal",
        ],
        rows,
    )
    table += (
        f"\n\nLargest relative difference between the distances under uniform and under zero "
        f"input (distances > 1e-4): {n['input_dependence']:.3g}.\n\n"
    )
    table += markdown_table(
        ["input scaling", "largest ρ up to which every swept ρ converged"],
        [[s, "none" if b is None else b] for s, b in boundaries(evidence).items()],
    )
    setup = (
        "Linear: `ElmanEncoder` with linear σ and the weights of `random_reservoir` (N = 500, "
        "10% connectivity, leak 1, float64), two initial states uniform in [−1, 1]^N; the "
        "factor is fitted on steps 100–400 of the zero-input run (the uniform-input run "
        "bottoms out at rounding). Tanh: `EchoStateEncoder` (N = 300, leak 1, input "
        "connectivity 10%, float64), uniform(−1, 1) input times the input scaling, converged "
        "if the RMS distance after 1 000 steps is below 1e-8."
    )
    return table, ["claim10_linear_esn.png"], setup


def render_settings(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    nonlin = evidence["nonlinearity"]
    for ax, key, label, title in (
        (axes[0, 0], "input_scaling", "input scaling (ρ 0.9)", "(a) input weights"),
        (axes[0, 1], "spectral_radius", "spectral radius (input scaling 1)", "(b) spectral radius"),
    ):
        xs = list(nonlin[key])
        for target in next(iter(nonlin[key].values())):
            ax.plot(xs, [nonlin[key][x][target] for x in xs], "o-", label=target)
        ax.set(
            xscale="log" if key == "input_scaling" else "linear",
            xlabel=label,
            ylabel="test NRMSE",
            title=f"{title}: nonlinear and memory targets, N = 300",
        )
        ax.legend(fontsize=8)
    ax = axes[0, 2]
    for f, row in evidence["leak"].items():
        ax.plot(list(row), list(row.values()), "o-", label=f"{f} samples per time unit")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="leak rate α",
        ylabel="test NRMSE",
        title="(c) Mackey-Glass 5 time units ahead",
    )
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    sizes = evidence["size"]
    ax.loglog(list(sizes), [v["nrmse"] for v in sizes.values()], "o-")
    ax.set(xlabel="reservoir size N", ylabel="test NRMSE", title="(d) Mackey-Glass, 20 steps ahead")
    ax = axes[1, 1]
    for dim, row in evidence["dimension"].items():
        ax.semilogx(list(row), list(row.values()), "o-", label=f"D = {dim}")
    ax.set(
        xlabel="reservoir size N", ylabel="test NRMSE", title="(e) recall D inputs 10 steps back"
    )
    ax.legend(fontsize=8)
    axes[1, 2].axis("off")
    save_figure(fig, figures / "claim11_reservoir_settings.png")
    tables = []
    for key, label in (("input_scaling", "input scaling"), ("spectral_radius", "ρ")):
        targets = list(next(iter(nonlin[key].values())))
        tables.append(
            markdown_table(
                [label, *targets], [[x, *row.values()] for x, row in nonlin[key].items()]
            )
        )
    leaks = list(next(iter(evidence["leak"].values())))
    tables.append(
        markdown_table(
            ["samples per time unit \\ leak α", *leaks],
            [[f, *row.values()] for f, row in evidence["leak"].items()],
        )
    )
    tables.append(
        markdown_table(
            ["N", "test NRMSE", "ridge chosen"],
            [[n, v["nrmse"], v["ridge"]] for n, v in sizes.items()],
        )
    )
    dims = evidence["dimension"]
    tables.append(
        markdown_table(
            ["D \\ N", *next(iter(dims.values()))], [[d, *row.values()] for d, row in dims.items()]
        )
    )
    setup = (
        "`EchoStateEncoder` (10% connectivity, seed 0) with a ridge readout with bias, the "
        f"ridge chosen from {list(reservoir_settings.RIDGES)} on validation steps; 2 000 "
        "training, 500 validation and 1 000 test steps after a 100-step washout (the leak "
        "sweep scales them with the sampling rate). Readouts of reservoirs larger than the "
        "training set are solved in their dual form (kernel ridge on centred states, claim 9). "
        "(a, b): uniform(−1, 1) input, leak 1, N = 300, full input connectivity. (c) "
        "Mackey-Glass integrated at h = 1/f, N = 300, ρ 0.9. (d) ρ 1.25, leak 0.3. (e) D "
        "independent uniform inputs scaled by 0.5/√D, ρ 0.9, leak 1."
    )
    return "\n\n".join(tables), ["claim11_reservoir_settings.png"], setup


POLICY_LABELS = {
    "best_memoryless": "best memoryless (exact reactive table)",
    "bayes": "Bayes-optimal (exact filter, expectimax)",
    "greedy_exact_belief": "most likely landing, exact belief",
    "greedy_decoded_gru": "most likely landing, belief decoded from the GRU",
}


def render_hmm(evidence: dict[str, Any], verdict: Verdict, figures: Path) -> Rendered:
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(15, 3.8), width_ratios=[1.2, 1, 1.2])
    example = np.asarray(evidence["example"]["exact"])
    image = ax.imshow(example.T, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1)
    ax.axvline(hmm_rnn.TASK.visible_rows - 0.5, color="C1", ls="--", label="ball hidden →")
    ax.set(
        xlabel="row (step)",
        ylabel="state 3·column + velocity + 1",
        title=f"(a) belief, one episode; max |RNN − filter| = {evidence['max_abs_difference']:.1g}",
    )
    ax.legend(fontsize=8, loc="upper right")
    fig.colorbar(image, ax=ax)
    r2 = {int(k): v for k, v in evidence["decoder_r2"].items()}
    widths = sorted(r2)
    bx.bar([str(w) for w in widths], [r2[w] for w in widths], color="C0")
    bx.axhline(0.9, color="k", ls=":", lw=1, label="0.9")
    bx.set(
        ylim=(0, 1.05),
        xlabel="GRU width",
        ylabel="R² (occluded held-out steps)",
        title="(b) ridge decoder: GRU state → exact belief",
    )
    bx.legend(fontsize=8)
    returns = evidence["returns"]
    cx.barh([POLICY_LABELS[n] for n in returns], list(returns.values()), color="C2")
    cx.set(xlim=(-1, 1.05), xlabel="mean return", title="(c) the same held-out episodes")
    cx.tick_params(axis="y", labelsize=7)
    save_figure(fig, figures / "claim12_hmm_rnn.png")
    n, b = verdict.numbers, evidence["budget"]
    rows = [
        [
            f"(a) max |constructed RNN − exact filter| over {evidence['filter_steps']} steps",
            n["max_abs_difference"],
        ],
        *[[f"(b) decoder R², GRU width {w}", r2[w]] for w in widths],
        [
            "(b) occluded test steps whose exact belief is not one-hot",
            f"{evidence['uncertain_fraction']:.3g} of {evidence['occluded_test_steps']}",
        ],
        *[[f"return: {POLICY_LABELS[k]}", v] for k, v in returns.items()],
        ["memory score of the decoded-belief policy", n["decoded_policy_memory_score"]],
    ]
    setup = (
        "OccludedCatch-v1 (7 × 10 grid, ball seen in rows 0–2, paddle held meanwhile): the "
        "HMM has 21 states (column, velocity), A the deterministic fall with wall reflection, "
        "B the indicator of the seen column plus a 'hidden' symbol of likelihood 1 in every "
        "state (whether the ball is hidden depends on the row only), uniform prior. (a) "
        "`ForwardFilterRNN` (`stateful_rl.claims.hmm_rnn`, float64) on "
        f"{b['filter_episodes']} episodes under random actions against "
        "`CatchBeliefFilter` (integer counts of the consistent launches). (b) `GRUEncoder` on "
        "the ball's three observation entries (column, row, visibility; not the paddle) with a "
        "linear head, trained by cross-entropy to predict the true state at every row: "
        f"{b['updates']} Adam updates (step {b['learning_rate']:g}) on minibatches of "
        f"{b['batch']} of {b['train_episodes']} training episodes, seed {b['seed']}; the head "
        f"is then dropped and a ridge decoder (β = {b['ridge']:g}, with bias) is fitted from "
        "the GRU state to the exact belief on the training episodes' occluded steps and scored "
        f"on {b['test_episodes']} held-out episodes. After two sightings the ball's state is "
        "known exactly, so on occluded steps the exact belief is one-hot: the decoder reads the "
        "true state from the GRU. Policies on the same held-out episodes (seeded vector env): "
        "the reference policies of `stateful_rl.envs.reference_policies` and `LandingPolicy` "
        "(move toward the most likely landing column) on the exact and on the decoded belief; "
        f"the verdict reads the GRU of width {evidence['hidden_size']} (the recurrent-dqn "
        "catch preset's), the other widths are trained alike and only reported."
    )
    return markdown_table(["what", "value"], rows), ["claim12_hmm_rnn.png"], setup


# ---------------------------------------------------------------- claim 8: agents
def load_run(path: Path, command: str) -> dict[str, Any]:
    """A saved run's JSON; FileNotFoundError naming ``command`` (which writes it) if absent."""
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `{command}`")
    return json.loads(path.read_text())


def mean_curve(histories: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation steps and the mean over seeds of the evaluation means."""
    steps = np.array([row[0] for row in histories[0]])
    return steps, np.mean([[row[1] for row in h] for h in histories], axis=0)


def agents_section(saved_runs: Path, figures: Path, quick: bool) -> tuple[Verdict, Rendered]:
    """Claim 8: the recurrent-dqn and dqn presets trained from scratch on OccludedCatch-v1
    (exact references on the same episodes); the saved DQN pair on OccludedTracking-v0,
    scored against the current reference policies on its evaluation episodes; the saved NFQ
    pair on CartPoleNoVel-v0 (interim references, see the setup text)."""
    from stateful_rl.report.explain_agent import FRESH_SEEDS, reference_returns

    budget = agents_claim.CatchBudget.quick() if quick else agents_claim.CatchBudget()
    catch = agents_claim.run_catch(budget)
    catch_verdict = agents_claim.catch_verdict(catch)
    dqn = load_run(
        saved_runs / DQN_RUN / "learning.json", "python -m stateful_rl.report.explain_agent train"
    )
    nfq = load_run(saved_runs / NFQ_RUN, "python -m stateful_rl.bench.nfq novel")
    tracking_refs = reference_returns()
    dqn_returns = {name: [run["kept"]] for name, run in dqn["agents"].items()}
    dqn_verdict = agents_claim.verdict(
        dqn_returns,
        [n for n, r in dqn["agents"].items() if r["recurrent"]],
        r_best_memoryless=tracking_refs["best_memoryless"],
        r_bayes=tracking_refs["bayes"],
    )
    kept = {
        name: [r["kept"] for r in nfq["rows"] if r["what"].split()[0] == name]
        for name in NFQ_AGENTS
    }
    interim_memoryless = float(np.mean(kept["nfq"]))
    nfq_verdict = agents_claim.verdict(
        kept,
        agents_claim.RECURRENT_AGENTS,
        r_best_memoryless=interim_memoryless,
        r_bayes=agents_claim.CARTPOLE_MAX_RETURN,
    )
    fig, (cx, ax, nx) = plt.subplots(1, 3, figsize=(16, 4), width_ratios=[1.5, 1.5, 1])
    styles = {"best_memoryless": "--", "bayes": "-.", "oracle": ":", "naive_memoryless": "-"}
    rows = []

    def score_cells(scores: list[float]) -> str:
        return " / ".join(f"{v:.2f}" for v in scores)

    for name, values in catch["returns"].items():
        steps, mean = mean_curve(catch["curves"][name])
        cx.plot(steps, mean, "o-", ms=3, label=f"{agents_claim.CATCH_AGENTS[name]}")
        scores = catch_verdict.numbers["scores"][name]
        rows.append(
            [
                "OccludedCatch-v1 (from scratch)",
                agents_claim.CATCH_AGENTS[name],
                catch["steps"],
                len(values),
                " / ".join(f"{v:.3f}" for v in values),
                score_cells(scores),
            ]
        )
    for task, axis, refs in (
        ("OccludedCatch-v1 (from scratch)", cx, catch["references"]),
        ("OccludedTracking-v0 (saved run)", ax, tracking_refs),
    ):
        for name in ("best_memoryless", "bayes"):
            label = name.replace("_", " ")
            axis.axhline(refs[name], ls=styles[name], lw=1, color="k", label=label)
        rows += [
            [task, f"reference policy: {name}", "–", "–", f"{v:.4g}", "–"]
            for name, v in refs.items()
        ]
    cx.set(
        xlabel="env steps",
        ylabel=f"mean return (evaluations, mean of {len(catch['seeds'])} seeds)",
        title="OccludedCatch-v1, trained from scratch",
    )
    cx.legend(fontsize=7, loc="lower right")
    for name, run in dqn["agents"].items():
        steps, mean = zip(*[(s, m) for s, m, _ in run["curve"]], strict=True)
        ax.plot(steps, mean, "o-", ms=3, label=name)
        score = dqn_verdict.numbers["scores"][name][0]
        rows.append(
            [
                "OccludedTracking-v0 (saved run)",
                name,
                run["steps"],
                1,
                f"{run['kept']:.4g}",
                f"{score:.2f}",
            ]
        )
    ax.set(xlabel="env steps", ylabel="mean return (20 episodes)", title="OccludedTracking-v0")
    ax.legend(fontsize=7, loc="lower right")
    for i, (name, values) in enumerate(kept.items()):
        nx.plot(np.full(len(values), i), values, "o", alpha=0.7)
        rows.append(
            [
                "CartPoleNoVel-v0 (saved runs)",
                NFQ_AGENTS[name],
                nfq["rows"][0]["collected"],
                len(values),
                " / ".join(f"{v:.0f}" for v in values),
                score_cells(nfq_verdict.numbers["scores"][name]),
            ]
        )
    nx.axhline(agents_claim.CARTPOLE_MAX_RETURN, ls=":", lw=1, color="k", label="R_Bayes (500)")
    nx.axhline(interim_memoryless, ls="--", lw=1, color="k", label="R_memoryless (interim)")
    nx.legend(fontsize=8, loc="center right")
    nx.set(
        xticks=range(len(kept)),
        xticklabels=[NFQ_AGENTS[n].split(" (")[0] for n in kept],
        xlim=(-0.5, len(kept) - 0.5),
        ylim=(0, 520),
        title="CartPoleNoVel-v0, one dot per seed",
        ylabel="kept model: mean return (100 fresh episodes)",
    )
    save_figure(fig, figures / "claim8_agents.png")
    per_task = {
        "OccludedCatch-v1": catch_verdict,
        "OccludedTracking-v0": dqn_verdict,
        "CartPoleNoVel-v0": nfq_verdict,
    }
    verdict = Verdict(
        all(v.holds for v in per_task.values()),
        catch_verdict.criterion
        + ", on every task ("
        + ", ".join(
            f"{task}: {'holds' if v.holds else 'does not hold'}" for task, v in per_task.items()
        )
        + ")",
        {task: v.numbers for task, v in per_task.items()},
    )
    table = markdown_table(
        [
            "task",
            "agent",
            "env steps",
            "seeds",
            "mean return (fresh episodes; kept model, per seed)",
            "memory score (per seed)",
        ],
        rows,
    )
    commands = "; ".join(f"`{c}`" for cs in nfq["commands"].values() for c in cs)
    setup = (
        "Memory score = (R − R_best_memoryless) / (R_Bayes − R_best_memoryless) "
        "(`stateful_rl.claims.agents.verdict`, which takes both references as inputs). "
        "OccludedCatch-v1: the `recurrent-dqn` (GRU-64) and `dqn` (Double DQN, (64, 64)) "
        "presets, trained from scratch here by `stateful_rl.claims.agents.run_catch` "
        f"({catch['steps']} env steps, 8 envs, seeds {list(catch['seeds'])}); the model kept by "
        f"the periodic evaluation is scored on {catch['episodes']} fresh episodes, and the "
        "reference policies of `stateful_rl.envs.reference_policies` on the same episodes: "
        "best memoryless = the exact optimal reactive table, Bayes = the exact filter with "
        "expectimax planning. `tests/claims/test_agents_claim.py` trains the same (`-m slow`). "
        "OccludedTracking-v0: DQN runs saved by `python -m stateful_rl.report.explain_agent "
        f"train` (one seed, 0: a single run, not a spread), kept models scored on "
        f"{len(FRESH_SEEDS)} fresh episodes; the references are run here on the same episodes: "
        "best memoryless = the CMA-ES-tuned reactive controller, Bayes = the Kalman filter of "
        "the true model with greedy steering. "
        "CartPoleNoVel-v0: interim references (no exact ones exist): R_Bayes = 500 (the return "
        "cap; full-state controllers balance to the end) and R_best_memoryless = the mean kept "
        f"return of feed-forward NFQ ({interim_memoryless:.1f}), the best memoryless agent "
        "trained here, not a proven best memoryless policy. NFQ rows saved by "
        f"{commands}; {nfq['settings']['common']}. ESN-NFQ: {nfq['settings']['esn-nfq']}. "
        f"Feed-forward NFQ: {nfq['settings']['nfq']}."
    )
    return verdict, (table, ["claim8_agents.png"], setup)


# ---------------------------------------------------------------- report
RENDERERS = {
    1: render_tracking,
    2: render_euler,
    3: render_gradients,
    4: render_echo_state,
    5: render_recall,
    6: render_lrp,
    7: render_cpg,
    9: render_esn_kernel,
    10: render_linear_esn,
    11: render_settings,
    12: render_hmm,
}


def judge(module: ModuleType, evidence: dict[str, Any]) -> Verdict:
    """The claim's verdict with the references this report passes (claims 6 and 1 take
    optional ones; their defaults are the evidence's own)."""
    if module.NUMBER == 6:
        return module.verdict(evidence, agent=evidence.get("agent"))
    return module.verdict(evidence)


def break_results(module: ModuleType) -> list[dict[str, Any]]:
    """Each break of ``module`` applied to a quick-budget run: whether the verdict failed."""
    if module.NUMBER == 8:  # needs agent training: the slow test applies it
        return [{"name": b.name, "caught": None} for b in module.BREAKS]
    results = []
    for fault in module.BREAKS:
        with applied(fault):
            try:
                caught = not module.verdict(module.run(module.Budget.quick())).holds
            except (ValueError, FloatingPointError, np.linalg.LinAlgError, RuntimeError):
                caught = True  # the broken mechanism made the check itself fail
        results.append({"name": fault.name, "caught": caught})
    return results


def section_for(
    n: int, budget_quick: bool, figures: Path, saved_runs: Path, breaks: bool
) -> Section:
    """Run claim ``n``, render its section and check its breaks; ``cpu_seconds`` covers all
    three (this process's CPU time: torch and numba run on one thread)."""
    module = CLAIMS[n]
    start = time.process_time()
    if n == 8:
        verdict, (table, names, setup) = agents_section(saved_runs, figures, budget_quick)
    else:
        evidence = module.run(module.Budget.quick() if budget_quick else module.Budget())
        if n == 6 and (saved_runs / DQN_RUN / "model.zip").exists():
            from stateful_rl.report.explain_agent import explain_saved_agent

            episodes, stride = (2, 6) if budget_quick else (8, 2)
            evidence["agent"] = explain_saved_agent(
                figures / "explain_agent.png", episodes, stride, saved_runs / DQN_RUN
            )
        verdict = judge(module, evidence)
        table, names, setup = RENDERERS[n](evidence, verdict, figures)
    caught = break_results(module) if breaks else []
    seconds = time.process_time() - start
    return Section(
        n,
        module.TITLE,
        module.CLAIM,
        verdict.criterion,
        bool(verdict.holds),
        plain(verdict.numbers),
        table,
        names,
        setup,
        caught,
        seconds,
        budget_quick,
    )


def render(sections: dict[int, Section], figures_link: str) -> str:
    """The markdown report from the stored sections."""
    ordered = sorted(sections.values(), key=lambda s: s.number)
    total = sum(s.cpu_seconds for s in ordered)
    lines = [
        "# The lecture's claims, reproduced",
        "",
        "Generated by `python -m stateful_rl.report.seed_claims` from seeded computations (claim "
        "8 also from saved agent runs); do not edit by hand. Each section: the claim as the "
        "numbers support it, the command that reproduces it, the figure, the numbers, whether "
        "they meet the stated criterion, and the deliberate breaks of the mechanism that the check "
        "catches (each applied to a quick-budget run here, and in `tests/claims/`).",
        "",
    ]
    summary = [
        [
            f"[{s.number}. {s.title}](#claim-{s.number})",
            ("yes" if s.holds else "**no**") + (" (quick budget)" if s.quick else ""),
            f"{s.cpu_seconds:.0f}",
        ]
        for s in ordered
    ]
    lines.append(markdown_table(["claim", "holds", "CPU seconds (one thread)"], summary))
    lines += ["", f"Total CPU: {total:.0f} s (computations, figures and break checks)."]
    for s in ordered:
        lines += [
            "",
            f'<a id="claim-{s.number}"></a>',
            f"## {s.number}. {s.title}",
            "",
            f"**Claim.** {s.claim}",
            "",
            f"**Reproduce.** `{COMMAND.format(n=s.number)}`",
            "",
            *[f"![claim {s.number}]({figures_link}/{name})\n" for name in s.figures],
            "**Numbers.**",
            "",
            s.table,
            "",
            f"**Criterion.** {s.criterion}: **{'holds' if s.holds else 'does not hold'}**.",
            "",
            f"**Setup.** {s.setup}",
        ]
        if s.breaks:
            rows = [
                [b["name"], {True: "yes", False: "**no**", None: "slow test"}[b["caught"]]]
                for b in s.breaks
            ]
            lines += [
                "",
                "**Deliberate breaks** (the check must not hold under them):",
                "",
                markdown_table(["break", "caught (quick budget)"], rows),
            ]
    return "\n".join(lines) + "\n"


def run_claims(
    claims: list[int],
    quick: bool,
    docs: Path,
    figures: Path | None = None,
    saved_runs: Path | None = None,
    breaks: bool = True,
) -> dict[int, Section]:
    """Run ``claims``, merge them into ``<docs>/seed_claims.json`` and rewrite the report."""
    figures = docs / "figures" if figures is None else figures
    saved_runs = REPO_DOCS / "saved_runs" if saved_runs is None else saved_runs
    store = docs / "seed_claims.json"
    sections = stored_sections(store)
    for n in claims:
        sections[n] = section_for(n, quick, figures, saved_runs, breaks)
        s = sections[n]
        missed = [b["name"] for b in s.breaks if b["caught"] is False]
        print(
            f"claim {n}: {'holds' if s.holds else 'DOES NOT HOLD'} ({s.cpu_seconds:.0f} s CPU)"
            + (f"; breaks NOT caught: {missed}" if missed else ""),
            flush=True,
        )
        write_atomic(
            store, json.dumps({k: asdict(v) for k, v in sections.items()}, indent=1).encode()
        )
    write_report(sections, docs, figures)
    return sections


def stored_sections(store: Path) -> dict[int, Section]:
    """The sections kept in ``store`` (``seed_claims.json``), by claim number; none if absent."""
    if not store.exists():
        return {}
    return {int(k): Section(**v) for k, v in json.loads(store.read_text()).items()}


def write_report(sections: dict[int, Section], docs: Path, figures: Path) -> None:
    """Write ``<docs>/seed_claims.md`` with figure links relative to ``docs``."""
    link = Path(os.path.relpath(figures.resolve(), docs.resolve())).as_posix()
    write_atomic(docs / "seed_claims.md", render(sections, link).encode())


def render_stored(docs: Path, figures: Path | None = None) -> None:
    """Rewrite the report from ``<docs>/seed_claims.json`` with each claim module's current
    title and claim text (wording changes need no rerun; numbers and verdicts stay stored)."""
    sections = stored_sections(docs / "seed_claims.json")
    for n, s in sections.items():
        s.title, s.claim = CLAIMS[n].TITLE, CLAIMS[n].CLAIM
    write_report(sections, docs, docs / "figures" if figures is None else figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, nargs="+", default=list(CLAIMS), choices=list(CLAIMS))
    parser.add_argument("--quick", action="store_true", help="small budgets (as the tests)")
    parser.add_argument("--docs", type=Path, default=REPO_DOCS, help="folder of the report")
    parser.add_argument("--figures", type=Path, help="folder of the figures (<docs>/figures)")
    parser.add_argument(
        "--saved-runs",
        type=Path,
        default=REPO_DOCS / "saved_runs",
        help="saved agent runs read by claims 6 and 8",
    )
    parser.add_argument("--no-breaks", action="store_true", help="skip the break checks")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the report from the stored sections with the claims' current texts "
        "(runs nothing)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.render_only:
        render_stored(args.docs, args.figures)
    else:
        run_claims(
            args.claims, args.quick, args.docs, args.figures, args.saved_runs, not args.no_breaks
        )
    print(f"wrote {args.docs / 'seed_claims.md'}")


if __name__ == "__main__":
    main()
