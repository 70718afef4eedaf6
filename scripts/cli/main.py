"""The ``stateful-rl`` command line: list, train, eval, bench, demo, sweep.

Configuration problems print one message naming the key and the allowed values and exit
with status 2 before anything is written (argparse's own convention for usage errors).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import runpy
import sys
from pathlib import Path

import yaml

from stateful_rl import __version__
from stateful_rl.cli.config import ConfigError, parse_overrides, resolve_config

BENCHMARKS = ("envs", "encoders", "agents", "nfq", "salamander", "salamander_agents")
EXIT_CONFIG = 2  # argparse's status for usage errors: nothing was written
EXIT_IO = 1


def import_modules(names: list[str]) -> None:
    """Import the packages named by ``--import`` (they register their own env ids); only the
    command line names code to import, never a file."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(f"--import {name}: {error}") from None


def set_threads(threads: int) -> None:
    """Torch's intra-op threads for this process (``--threads``)."""
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def cmd_list(args: argparse.Namespace) -> int:
    from stateful_rl.cli.catalog import print_catalog

    import_modules(args.imports)
    print_catalog()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from stateful_rl.cli.evaluate import summary_line
    from stateful_rl.cli.run_dir import fresh_dir
    from stateful_rl.cli.seeds import is_seed_parent, resume_seeds, seed_runs
    from stateful_rl.cli.training import resume, train

    import_modules(args.imports)
    set_threads(args.threads)
    if args.seed is not None and args.seeds is not None:
        raise ConfigError("pass --seed or --seeds, not both")
    if args.resume is not None:
        given = [
            f"--{k.replace('_', '-')}"
            for k in (
                "env",
                "agent",
                "encoder",
                "config",
                "set",
                "steps",
                "seed",
                "seeds",
                "device",
            )
            if getattr(args, k) not in (None, [])
        ]
        if given or args.run_dir is not None:
            raise ConfigError(
                "--resume continues the run with its saved config.yaml; "
                f"drop {given or ['--run-dir']}"
            )
        run_dir = Path(args.resume)
        if is_seed_parent(run_dir):
            resume_seeds(run_dir, progress_bar=not args.no_progress)
            return _print_seed_results(run_dir, [run.root for run in seed_runs(run_dir)])
        resume(run_dir, progress_bar=not args.no_progress)
    else:
        overrides = parse_overrides([item for group in args.set for item in group])
        if args.encoder is not None:
            overrides.setdefault("hyperparams", {})["encoder"] = args.encoder
        flags = {
            "env": args.env,
            "agent": args.agent,
            "steps": args.steps,
            "seed": args.seed,
            "device": args.device,
        }
        if args.print_config:
            seeds = [args.seed] if args.seeds is None else args.seeds
            configs = [resolve_config(args.config, overrides, {**flags, "seed": s}) for s in seeds]
            print(yaml.safe_dump_all([c.to_dict() for c in configs], sort_keys=True), end="")
            return 0
        if args.seeds is not None:
            return _train_seeds(args, overrides, flags)
        config = resolve_config(args.config, overrides, flags)
        default = Path("runs") / f"{config.env.split('/')[-1]}_{config.agent}_seed{config.seed}"
        run_dir = Path(args.run_dir) if args.run_dir else fresh_dir(default)
        print(f"run directory: {run_dir}", file=sys.stderr)
        train(config, run_dir, progress_bar=not args.no_progress)
    print(summary_line(json.loads((run_dir / "eval.json").read_text())), file=sys.stderr)
    return 0


def _train_seeds(args: argparse.Namespace, overrides: dict, flags: dict) -> int:
    """``train --seeds``: one config per seed, trained together under one parent directory."""
    from stateful_rl.agents.seed_batch import check_seeds
    from stateful_rl.cli.run_dir import fresh_dir
    from stateful_rl.cli.seeds import seed_run, train_seeds

    try:
        seeds = check_seeds(args.seeds)
    except ValueError as error:
        raise ConfigError(f"--seeds: {error}") from None
    configs = [resolve_config(args.config, overrides, {**flags, "seed": s}) for s in seeds]
    name = f"{configs[0].env.split('/')[-1]}_{configs[0].agent}_seeds{seed_label(seeds)}"
    parent = Path(args.run_dir) if args.run_dir else fresh_dir(Path("runs") / name)
    print(f"run directory: {parent} (one seed<S> directory per seed)", file=sys.stderr)
    train_seeds(configs, parent, progress_bar=not args.no_progress)
    return _print_seed_results(parent, [seed_run(parent, s).root for s in seeds])


def seed_label(seeds: list[int]) -> str:
    """``0-4`` for consecutive seeds, else ``0_5_9``."""
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return "_".join(str(s) for s in seeds)


def _print_seed_results(parent: Path, run_dirs: list[Path]) -> int:
    from stateful_rl.cli.evaluate import summary_line
    from stateful_rl.cli.seeds import summary_text

    for run_dir in run_dirs:
        print(summary_line(json.loads((run_dir / "eval.json").read_text())), file=sys.stderr)
    print(summary_text(json.loads((parent / "summary.json").read_text())), file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from stateful_rl.cli.evaluate import EVAL_SEED, evaluate_run, summary_line

    import_modules(args.imports)
    set_threads(args.threads)
    seed = EVAL_SEED if args.seed is None else args.seed
    result = evaluate_run(args.run_dir, args.episodes, seed, args.video, args.model, args.out)
    print(summary_line(result), file=sys.stderr)
    print(json.dumps(result, indent=2))
    if "not_written" in result:
        print(
            f"stateful-rl eval: warning: result not saved ({result['not_written']})",
            file=sys.stderr,
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    module = f"stateful_rl.bench.{args.name}"
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"benchmark {args.name!r} is not installed (no module {module})")
    sys.argv = [f"stateful-rl bench {args.name}", *args.bench_args]  # argparse's prog
    runpy.run_module(module, run_name="__main__")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stateful_rl.cli.demo import run_demo

    run_demo(Path(args.run_dir), seed=args.seed, steps=args.steps, workers=args.workers)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from stateful_rl.cli.sweep import run_sweep

    run_sweep(args.config, address=args.address, num_cpus=args.num_cpus)
    return 0


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_common(p: argparse.ArgumentParser) -> None:
    """``--import`` and ``--threads``, shared by the commands that build envs and agents."""
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (a package that registers its own env ids); repeatable",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads for this process (default 1: on a busy machine more threads are "
        "slower for networks of this size)",
    )


def build_parser() -> argparse.ArgumentParser:
    from stateful_rl.agents import AGENTS
    from stateful_rl.encoders import ENCODERS

    parser = argparse.ArgumentParser(
        prog="stateful-rl", description="Reinforcement learning under partial observability."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="environments (with spaces), agents and encoders")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (a package that registers env ids)")  # fmt: skip
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train an agent into a run directory")
    p.add_argument("--env", help="env id (stateful_rl/ prefix optional), e.g. OccludedCatch-v0")
    p.add_argument("--agent", help=f"one of: {', '.join(AGENTS)}")
    p.add_argument("--encoder", help=f"recurrent agents' encoder, one of: {', '.join(ENCODERS)}")
    p.add_argument("--config", help="YAML file with run keys (see stateful_rl.cli.config)")
    p.add_argument(
        "--set",
        nargs="+",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="overrides, e.g. hyperparams.learning_rate=1e-3 env_kwargs.dim=2 learning_rate=1e-3",
    )
    p.add_argument("--steps", type=int, help="env steps to train (default: the preset's)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="several seeds trained together in this process (one batched update per step "
        "where the agent allows), into RUN_DIR/seed<S> each, with an across-seed summary",
    )
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--run-dir",
        help="output directory (default runs/<env>_<agent>_seed<S>, with --seeds "
        "runs/<env>_<agent>_seeds<...>)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last checkpoint (from scratch if it has "
        "none); the directory of a --seeds run continues all its seeds together",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved run config (YAML, what config.yaml would hold) and exit",
    )
    add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval", help="evaluate a run's saved model; JSON on stdout and in eval-<model>.json"
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--episodes", type=positive_int, help="episodes (default: the run's eval_episodes)"
    )
    p.add_argument("--seed", type=int, help="seed of the first episode (episode i: seed + i)")
    p.add_argument(
        "--video",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="record N episodes as videos (mp4 with imageio-ffmpeg installed, else GIF)",
    )
    p.add_argument(
        "--model",
        choices=("best_model", "model"),
        help="which saved model (default: best_model if the run kept one, else model)",
    )
    p.add_argument(
        "--out", help="where to write the JSON result (default RUN_DIR/eval-<model>.json)"
    )
    add_common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="run a benchmark script (extra arguments go to it)")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of the benchmark")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="feed-forward vs recurrent DQN on an occluded task (~2 min)")
    p.add_argument("--run-dir", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed of both agents (default 0)")
    p.add_argument(
        "--steps", type=positive_int, help="override the training steps (for a quick look)"
    )
    p.add_argument(
        "--workers", type=positive_int, default=2, help="parallel training processes (default 2)"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sweep", help="grid of runs on Ray (pip install 'stateful-rl[sweep]')")
    p.add_argument("--config", required=True, help="sweep YAML (see stateful_rl.cli.sweep)")
    p.add_argument("--address", help="join this Ray cluster (default: a local instance)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local instance (default: all)")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stateful-rl`` console script; returns the exit status: 0, 2 for a
    configuration problem (nothing written), 1 when a file cannot be written or read."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as error:
        print(f"stateful-rl {args.command}: error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as error:
        where = error.filename or ""
        print(
            f"stateful-rl {args.command}: error: {where}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
