"""The race benchmark runs both methods on a POPGym task and on a memory env (a short smoke
run each): the RecurrentPPO side must build its envs as POPGym's constructors accept them,
and a memory env's result carries its memory score."""

from __future__ import annotations

import json
import math

import pytest
from helpers import run_module

from stateful_rl.envs.reference_policies import memory_score


def race(method: str, env_id: str) -> dict:
    done = run_module("stateful_rl.bench.race", "run", "--method", method, "--env", env_id,
                      "--seed", "0", "--steps", "512")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["method"], result["env"], result["seed"]) == (method, env_id, 0)
    return result


@pytest.mark.parametrize("method", ["ours", "rppo"])
def test_race_runs_a_popgym_task(method):
    result = race(method, "popgym-RepeatPreviousEasy-v0")
    assert math.isfinite(result["kept"]) and -1.0 <= result["kept"] <= 1.0
    assert "memory_score_kept" not in result


@pytest.mark.parametrize("method", ["ours", "rppo"])
def test_race_scores_memory_on_a_memory_env(method):
    result = race(method, "stateful_rl/OccludedCatch-v1")
    ref = result["references"]
    assert ref["random"] < ref["best_memoryless"] < ref["bayes"]
    for label in ("kept", "final"):
        expected = memory_score(result[label], ref["best_memoryless"], ref["bayes"])
        assert result[f"memory_score_{label}"] == pytest.approx(expected)
    solved = ref["best_memoryless"] + 0.9 * (ref["bayes"] - ref["best_memoryless"])
    assert result["threshold"] == pytest.approx(solved)


def test_race_table_shows_unsolved_runs_as_dashes(tmp_path, capsys):
    from stateful_rl.bench.race import median_interval, print_table

    assert median_interval([math.inf] * 5) == (math.inf, math.inf, math.inf)
    assert median_interval([32, 23, 55, 21, 22])[0] == 23
    row = {"method": "rppo", "env": "e", "threshold": 1.0, "kept": 0.5, "cpu_total": 9.0}
    rows = [{**row, "seed": s, "cpu_to_solve": None} for s in range(3)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print_table(tmp_path / "r.jsonl")
    assert "| 0/3 | 0.5, 0.5, 0.5 | – [–, –] | –, –, – | 9 |" in capsys.readouterr().out


def test_race_table_compares_memory_scores_at_the_faster_methods_cpu(tmp_path, capsys):
    from stateful_rl.bench.race import print_table

    ref = {"random": -1.0, "best_memoryless": 0.0, "bayes": 1.0}
    rows = [  # ours ends at 10 s, the peer at 20 s: both are read at 10 s
        {"method": "ours", "cpu_total": 10.0, "curve": [(1, 4.0, 0.9), (2, 9.0, 0.5)]},
        {"method": "rppo", "cpu_total": 20.0, "curve": [(1, 8.0, 0.2), (2, 19.0, 1.0)]},
    ]
    rows = [{**r, "env": "stateful_rl/OccludedCatch-v1", "seed": 0, "threshold": 0.9,
             "kept": 0.5, "cpu_to_solve": None, "references": ref,
             "memory_score_kept": 0.5} for r in rows]  # fmt: skip
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print_table(tmp_path / "r.jsonl")
    out = capsys.readouterr().out
    assert "At equal CPU time (10 s of each run)" in out
    assert "ours 0.50 (0.50); rppo 0.20 (0.20)." in out
