"""Single environments: checkers, determinism, pickling, spaces, leaks, errors, registration."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.classic import CLASSIC_MEMORY_ENVS

TRACKING = "stateful_rl/OccludedTracking-v0"
CATCH = "stateful_rl/OccludedCatch-v0"
# (id, kwargs) of every registered id plus the tracking variants.
CASES = [
    (TRACKING, {}),
    (TRACKING, {"dim": 2}),
    (TRACKING, {"obs_type": "pixels"}),
    (TRACKING, {"dim": 2, "obs_type": "pixels", "occluders": "both"}),
    (TRACKING, {"dynamics": "oscillator", "occluders": "bands"}),
    (TRACKING, {"dynamics": "random_accel", "dim": 2}),
    (TRACKING, {"occluders": "none", "noise": 0.0}),
    (CATCH, {}),
    *[(f"stateful_rl/{name}", {}) for name in CLASSIC_MEMORY_ENVS],
]
IDS = [f"{env_id.split('/')[1]}{kwargs or ''}" for env_id, kwargs in CASES]


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    """Observations, rewards and flags of ``steps`` seeded random steps (with resets)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out += [obs, reward, terminated, truncated]
        if terminated or truncated:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
            out.append(obs)
    return out


def innermost_wrapper(env: gym.Env) -> gym.Env:
    """Strip the wrappers gym.make adds, keeping ours (MaskObservation, Flicker)."""
    while isinstance(
        env,
        gym.wrappers.TimeLimit | gym.wrappers.OrderEnforcing | gym.wrappers.PassiveEnvChecker,
    ):
        env = env.env
    return env


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_gymnasium_and_sb3_checkers(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # upstream warnings (infinite bounds, Box actions)
        # Classic-control rendering needs pygame; ours render without it.
        check_env(innermost_wrapper(env), skip_render_check=env_id not in (TRACKING, CATCH))
        sb3_check_env(env)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_seeded_determinism_and_spaces(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    first, second = rollout(env, 1, 300), rollout(env, 1, 300)
    other = rollout(env, 2, 300)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=False))
    observations = [x for x in first if isinstance(x, np.ndarray)]
    assert all(env.observation_space.contains(o) for o in observations)
    assert np.std(np.stack(observations), axis=0).max() > 0  # not constant


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_pickle_and_deepcopy_continue_identically(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    rollout(env, 3, 5)
    clones = [pickle.loads(pickle.dumps(env)), copy.deepcopy(env)]
    for action in [env.action_space.sample() for _ in range(5)]:
        results = [e.step(action) for e in [env, *clones]]
        for clone_result in results[1:]:
            np.testing.assert_array_equal(clone_result[0], results[0][0])
            assert clone_result[1:4] == results[0][1:4]


@pytest.mark.parametrize("kwargs", [{}, {"dim": 2}, {"dynamics": "random_accel"}])
def test_tracking_info_reward_and_visibility(kwargs):
    env = gym.make(TRACKING, **kwargs)
    obs, info = env.reset(seed=0)
    dim = env.unwrapped.task.dim
    hidden = visible = 0
    for t in range(200):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        tracker, target = obs[:dim], info["target_state"][:dim]
        distance = np.linalg.norm(tracker - target)
        assert info["distance"] == pytest.approx(distance, abs=1e-6)
        assert reward == pytest.approx(-distance / (2 * np.sqrt(dim)), abs=1e-6)
        assert -1 <= reward <= 0
        assert obs[2 * dim] == info["visible"]
        if info["visible"]:
            visible += 1
            np.testing.assert_allclose(obs[dim : 2 * dim], np.clip(target, -1, 1), atol=0.06)
        else:
            hidden += 1
            np.testing.assert_array_equal(obs[dim:], 0.0)
        assert terminated is False and truncated == (t == 199)
    assert hidden > 20 and visible > 20


def samples(env_id: str, kwargs: dict, visible: bool, steps: int = 20000):
    """Observations and true target positions at (in)visible steps under random actions."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    features, targets = [], []
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if info["visible"] == visible:
            state = info.get("target_state", info.get("ball_state"))
            features.append(obs.ravel().astype(float))
            targets.append(state[0])
        if terminated or truncated:
            env.reset()
    return np.array(features), np.array(targets)


def held_out_r2(features: np.ndarray, targets: np.ndarray) -> float:
    """R² on the second half of a least-squares fit (with intercept) on the first half."""
    n = len(targets) // 2
    design = np.hstack([features, np.ones((len(features), 1))])
    coef = np.linalg.lstsq(design[:n], targets[:n], rcond=None)[0]
    residual = targets[n:] - design[n:] @ coef
    baseline = targets[n:] - targets[:n].mean()
    return float(1 - (residual**2).mean() / (baseline**2).mean())


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [(TRACKING, {}), (TRACKING, {"occluders": "both"}), (TRACKING, {"dim": 2}), (CATCH, {})],
)
def test_occluded_observations_carry_no_target_information(env_id, kwargs):
    """Regression test: a linear fit from occluded observations (random actions) to the
    hidden target position does no better than the mean on held-out steps, while the
    same fit on visible steps does (so the test can fail)."""
    hidden_features, hidden_targets = samples(env_id, kwargs, visible=False)
    assert len(hidden_targets) > 500
    r2 = held_out_r2(hidden_features, hidden_targets)
    assert r2 < 0.03, f"occluded observations predict the target: R² = {r2:.3f}"
    assert held_out_r2(*samples(env_id, kwargs, visible=True, steps=1000)) > 0.9


@pytest.mark.parametrize("dim", [1, 2])
def test_occluded_pixels_do_not_depend_on_the_target(dim):
    """While occluded, the image is a function of the tracker position and window only."""
    env = gym.make(TRACKING, dim=dim, obs_type="pixels", occluders="both")
    env.reset(seed=0)
    env.action_space.seed(0)
    frames: dict[tuple, np.ndarray] = {}
    repeats = 0
    for _ in range(4000):
        obs, _, _, truncated, info = env.step(env.action_space.sample())
        if not info["visible"]:
            key = (tuple(np.round(env.unwrapped._tracker, 6)), tuple(obs[0, 0]))
            if key in frames:
                repeats += 1
                np.testing.assert_array_equal(obs, frames[key])
            frames[key] = obs
        if truncated:
            env.reset()
    assert repeats > 100


def test_render_rgb_array():
    for env_id, shape in [(TRACKING, (192, 192, 3)), (CATCH, (80, 56, 3))]:
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        frame = env.render()
        assert frame.shape == shape and frame.dtype == np.uint8 and frame.any()


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        (TRACKING, {"dynamics": "chaos"}, "dynamics"),
        (TRACKING, {"dim": 3}, "dim"),
        (TRACKING, {"noise": -0.1}, "noise"),
        (TRACKING, {"process_noise": -1.0}, "process_noise"),
        (TRACKING, {"occluders": "walls"}, "occluders"),
        (TRACKING, {"obs_type": "rgb"}, "obs_type"),
        (TRACKING, {"window_rate": 1.5}, "window_rate"),
        (TRACKING, {"bands": ((0.5, 0.2),)}, "bands"),
        (TRACKING, {"target_speed": (0.2, 0.9)}, "target_speed"),
        (TRACKING, {"dynamics": "oscillator", "damping": 0.01}, "spectral radius"),
        (TRACKING, {"render_mode": "ascii"}, "render_mode"),
        (CATCH, {"visible_rows": 10}, "visible_rows"),
        (CATCH, {"columns": 1}, "columns"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*render_mode")  # gym.make's own warning for "ascii"
def test_bad_kwargs_raise_clear_value_errors(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", [TRACKING, CATCH])
@pytest.mark.parametrize("action", [3, -1, 1.5, "left", None])
def test_actions_outside_the_space_raise(env_id, action):
    env = gym.make(env_id, disable_env_checker=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)
    env.step(np.int64(1))  # numpy integers are fine


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_flicker_rejects_p_outside_unit_interval(p):
    from stateful_rl.envs.wrappers import Flicker

    with pytest.raises(ValueError, match="p must be in"):
        Flicker(gym.make("CartPole-v1"), p=p)


def run_fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_fresh_interpreter_registers_by_module_prefix_without_torch():
    out = run_fresh(
        "import sys, gymnasium as gym\n"
        "env = gym.make('stateful_rl.envs:stateful_rl/OccludedTracking-v0')\n"
        "env.reset(seed=0); env.step(1)\n"
        "import stateful_rl.envs\n"
        "ids = [k for k in gym.registry if k.startswith('stateful_rl/')]\n"
        "print(len(ids), 'torch' in sys.modules, 'mujoco' in sys.modules)\n"
    )
    count, torch_loaded, mujoco_loaded = out.split()
    assert int(count) >= 2 + len(CLASSIC_MEMORY_ENVS)
    assert torch_loaded == "False" and mujoco_loaded == "False"
