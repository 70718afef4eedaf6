"""API, determinism, versions and robustness of the salamander environments."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.salamander.frames import (
    dot_rows,
    rotate_by_inverse_quaternion,
    transpose_times,
)
from stateful_rl.envs.salamander.model import JOINT_NAMES, build_mjcf
from stateful_rl.envs.salamander.registration import SALAMANDER_ENVS, SALAMANDER_TASKS
from stateful_rl.envs.salamander.settings import CONTROLS

# check_env's advice on unbounded observations and the [0, 5] drive range is not an error;
# the bad render mode is refused by the environment itself after gymnasium's warning.
# Gymnasium's advice to move from v0 to v1 is expected here too.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:.*(infinity|normalized space|possible render_modes).*:UserWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*out of date.*:DeprecationWarning"),
]
ENV_IDS = [f"stateful_rl/{name}" for name, _, _ in SALAMANDER_ENVS]
N_LINKS = 17


def make(env_id: str = "stateful_rl/SalamanderSwim-v1", **kwargs) -> gym.Env:
    return gym.make(env_id, **kwargs)


def test_registering_does_not_import_mujoco():
    code = "import sys, stateful_rl.envs; assert 'mujoco' not in sys.modules, 'mujoco imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_default(env_id):
    check_env(make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("observation", ["full", "partial"])
def test_check_env_controls_and_observations(control, observation):
    env = make(control=control, observation=observation)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize(
    ("control", "observation", "size"),
    [
        ("cpg", "full", 20 + 4 + 20 + 1 + 3 + 3 + 60 + 2),
        ("joints", "full", 20 + 4 + 20 + 1 + 3 + 3 + 2),
        ("cpg", "partial", 20 + 4 + 2),
        ("joints", "partial", 20 + 4 + 2),
    ],
)
def test_observation_layout(control, observation, size):
    env = make(control=control, observation=observation)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (size,) == env.observation_space.shape
    quat = obs[20:24]
    np.testing.assert_allclose(np.linalg.norm(quat), 1.0, atol=1e-9)
    np.testing.assert_allclose(obs[:20], env.unwrapped.data.qpos[7:][_tree_order()], atol=0)


def _tree_order() -> np.ndarray:
    """Permutation from model (tree) joint order to JOINT_NAMES order."""
    xml, _ = build_mjcf()
    model = mujoco.MjModel.from_xml_string(xml)
    return np.array([model.joint(name).qposadr[0] - 7 for name in JOINT_NAMES])


def test_partial_observation_has_no_velocities():
    env = make(observation="partial")
    env.reset(seed=0)
    first, *_ = env.step(np.array([4.0, 4.0]))
    animals = env.unwrapped.animals
    animals.qvel[:] += 1.0  # velocities alone must not change a partial observation
    np.testing.assert_array_equal(animals.observe()[0][0], first)


def test_info_contents():
    env = make()
    _, info = env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([4.0, 4.0]))
    for key in ("reward_forward", "reward_energy", "power", "drives"):
        assert key in info
    assert info["com_position"].shape == info["com_velocity"].shape == (3,)
    assert info["links_in_water"].shape == (N_LINKS,)
    assert info["links_in_water"].dtype == bool
    assert info["links_in_water"].all()  # swimming: every link at least partly wet
    assert reward == pytest.approx(info["reward_forward"] + info["reward_energy"])
    assert info["reward_energy"] < 0.0
    np.testing.assert_array_equal(info["drives"], [4.0, 4.0])
    _, info = make("stateful_rl/SalamanderWalk-v1").reset(seed=0)
    assert not info["links_in_water"].any()
    assert "reward_forward" not in info  # no step yet


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id):
    def rollout(seed: int) -> np.ndarray:
        env = make(env_id, control="cpg")
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [obs]
        for _ in range(60):
            obs, reward, *_ = env.step(env.action_space.sample())
            trace.append(np.append(obs, reward))
        return np.concatenate(trace)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.allclose(rollout(3)[:40], rollout(4)[:40])  # the initial state is random


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda env: pickle.loads(pickle.dumps(env))])
def test_copies_continue_exactly_and_own_their_water(duplicate):
    env = make().unwrapped
    env.reset(seed=5)
    for _ in range(20):
        env.step(np.array([4.0, 4.0]))
    twin = duplicate(env)
    assert np.shares_memory(twin.water._force, twin.data.xfrc_applied)
    assert np.shares_memory(twin.water._wet, twin.animals.wet)
    for _ in range(20):
        first, second = env.step(np.array([4.5, 3.5])), twin.step(np.array([4.5, 3.5]))
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[4]["links_in_water"], second[4]["links_in_water"])


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        # v0: ±turn_offset around each level.
        ("SalamanderSwim-v0", [(3.75, 3.25), (3.5, 3.5), (3.25, 3.75), (4.25, 3.75)]),
        ("SalamanderWalk-v0", [(1.75, 1.25), (1.5, 1.5), (1.25, 1.75), (2.25, 1.75)]),
        # v1: swimming levels silence the inner side, walking levels the outer limbs.
        ("SalamanderSwim-v1", [(3.5, 0.0), (3.5, 3.5), (0.0, 3.5), (4.0, 0.0)]),
        ("SalamanderWalk-v1", [(5.0, 1.5), (1.5, 1.5), (1.5, 5.0), (5.0, 2.0)]),
    ],
)
def test_discrete_actions_set_the_documented_drives(env_id, expected):
    env = make(f"stateful_rl/{env_id}", control="cpg_discrete").unwrapped
    env.reset(seed=0)
    assert env.action_space.n == 9
    drives = [tuple(env.step(a)[4]["drives"]) for a in range(len(expected))]
    assert drives == expected


@pytest.mark.parametrize(
    ("control", "action", "match"),
    [
        ("cpg_discrete", 9, "int in"),
        ("cpg_discrete", -1, "int in"),
        ("cpg_discrete", 1.5, "int in"),
        ("cpg", np.array([1.0, 2.0, 3.0]), "2 finite drives"),
        ("cpg", np.array([np.nan, 2.0]), "finite"),
        ("joints", np.zeros(3), "20 finite joint targets"),
        ("joints", np.full(20, np.inf), "20 finite joint targets"),
    ],
)
def test_bad_actions_raise(control, action, match):
    env = make(control=control)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_floats_just_below_the_surface():
    env = make().unwrapped
    env.reset(seed=0)
    heights = []
    for _ in range(150):  # 6 s with a silent CPG
        env.step(np.array([0.0, 0.0]))
        heights.append(env.head_position[2])
    settled = np.array(heights[-50:])
    assert np.all((-0.03 < settled) & (settled < 0.0))  # metres; the surface is z = 0
    assert settled.std() < 0.002
    assert 0.7 < env.water.submerged().mean() < 1.0


def _random_rollout_is_finite(env_id: str, control: str, steps: int) -> None:
    env = make(env_id, control=control)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(obs).all() and np.isfinite(reward)
        assert np.isfinite(info["com_position"]).all()
        if terminated or truncated:
            env.reset()
    warnings = env.unwrapped.data.warning
    assert warnings[mujoco.mjtWarning.mjWARN_BADQACC].number == 0


def test_ten_thousand_random_joint_steps_stay_finite():
    _random_rollout_is_finite("stateful_rl/SalamanderAmphibious-v1", "joints", 10_000)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("control", CONTROLS)
def test_ten_thousand_random_steps_stay_finite_everywhere(env_id, control):
    _random_rollout_is_finite(env_id, control, 10_000)


def test_target_goal_is_seen_only_inside_the_view_cone():
    env = make("stateful_rl/SalamanderTarget-v1").unwrapped
    env.reset(seed=0)
    ahead = env.head_position + env.head_rotation @ np.array([1.0, 0.2, 0.0])
    behind = env.head_position + env.head_rotation @ np.array([-1.0, 0.0, 0.0])
    env.task.goal[0] = ahead
    obs = env.animals.observe()[0][0]
    assert obs[-3] == 1.0
    np.testing.assert_allclose(obs[-2:], [1.0, 0.2], atol=1e-6)
    env.task.goal[0] = behind
    np.testing.assert_array_equal(env.animals.observe()[0][0, -3:], 0.0)
    assert not env.task.goal_visible()[0]


def test_target_cue_shows_the_goal_everywhere_then_only_close_and_in_view():
    env = make("stateful_rl/SalamanderTarget-v1", control="cpg_discrete", cue_time=0.2).unwrapped
    env.reset(seed=0)
    behind = env.head_position + env.head_rotation @ np.array([-1.0, 0.0, 0.0])
    env.task.goal[0] = behind
    seen = [env.animals.observe()[0][0, -3]]
    for _ in range(7):
        seen.append(env.step(4)[0][-3])  # 40 ms steps: observed at 0, 40, ..., 160 ms
    assert seen == [1.0] * 5 + [0.0] * 3
    env.task.goal[0] = env.head_position + env.head_rotation @ np.array([0.5, 0.0, 0.0])
    assert env.task.goal_visible()[0]  # after the cue: in view, within sight_range


def test_target_v2_settings():
    env = make("stateful_rl/SalamanderTarget-v2").unwrapped
    task = env.task
    assert (task.cue_time, task.sight_range, task.goal_bonus) == (0.5, 0.5, 30.0)
    assert not env.settings.compass
    assert (
        gym.spec("stateful_rl/SalamanderTarget-v2").max_episode_steps == 375
    )  # 30 s at the 80 ms control period
    old = make("stateful_rl/SalamanderTarget-v1").unwrapped
    assert (old.task.cue_time, old.task.sight_range, old.settings.compass) == (0.0, 3.0, True)


def test_target_goal_marker_follows_the_goal_and_touches_nothing():
    env = make("stateful_rl/SalamanderTarget-v2").unwrapped
    for seed in (2, 3):
        env.reset(seed=seed)
        np.testing.assert_array_equal(env.data.mocap_pos[0], env.task.goal[0])
    goal = env.model.geom("goal")
    assert goal.contype[0] == goal.conaffinity[0] == 0
    assert env.model.body("goal").id > env.model.body("body_8").id  # after the animal
    assert env.metadata["render_fps"] == 12.5  # one frame per 80 ms control step


def test_without_compass_the_orientation_keeps_tilt_and_loses_heading():
    """The observed quaternion is the head's orientation turned about the vertical until it
    heads along +x: the same for every heading, with the true tilt."""
    rng = np.random.default_rng(0)
    for yaw in (0.0, 1.0, -2.5):
        env = make(compass=False, heading=yaw).unwrapped
        env.reset(seed=1)
        for _ in range(15):
            obs = env.step(rng.uniform(0.0, 5.0, 2))[0]
        true = np.zeros(9)
        mujoco.mju_quat2Mat(true, env.data.qpos[3:7])
        seen = np.zeros(9)
        mujoco.mju_quat2Mat(seen, obs[20:24])
        true, seen = true.reshape(3, 3), seen.reshape(3, 3)
        assert abs(seen[1, 0]) < 1e-12 and seen[0, 0] > 0  # forward axis heads along +x
        np.testing.assert_allclose(seen[2], true[2], atol=1e-12)  # the same tilt (gravity)
        heading = np.arctan2(true[1, 0], true[0, 0])
        turn = np.array(
            [
                [np.cos(heading), -np.sin(heading), 0],
                [np.sin(heading), np.cos(heading), 0],
                [0, 0, 1],
            ]
        )
        np.testing.assert_allclose(turn @ seen, true, atol=1e-12)


def test_target_terminates_with_bonus_at_the_goal():
    env = make("stateful_rl/SalamanderTarget-v1").unwrapped
    env.reset(seed=0)
    env.task.goal[0] = env.head_position + np.array([0.05, 0.0, 0.0])
    _, reward, terminated, _, info = env.step(np.array([4.0, 4.0]))
    assert terminated and info["reward_goal"] == env.task.goal_bonus and reward > 5.0


def test_render_rgb_array():
    env = make(render_mode="rgb_array", width=160, height=120)
    env.reset(seed=0)
    try:
        frame = env.render()
    except Exception as error:  # no OpenGL backend on this machine
        pytest.skip(f"no rendering backend: {error}")
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    assert frame.std() > 5.0  # not a blank image
    env.close()


def test_row_rotations_equal_mujoco_to_the_last_bit():
    """The batch's rotations repeat MuJoCo's and numpy's single-animal operations exactly."""
    rng = np.random.default_rng(0)
    quat = rng.normal(size=(500, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    quat[0] = (1.0, 0.0, 0.0, 0.0)
    vector = rng.normal(size=(500, 3))
    vector[1] = 0.0
    inverse, expected, rotation = np.zeros(4), np.zeros((500, 3)), np.zeros((500, 9))
    for k in range(500):
        mujoco.mju_negQuat(inverse, quat[k])
        mujoco.mju_rotVecQuat(expected[k], vector[k], inverse)
        mujoco.mju_quat2Mat(rotation[k], quat[k])
    np.testing.assert_array_equal(rotate_by_inverse_quaternion(quat, vector), expected)
    products = np.array([rotation[k].reshape(3, 3).T @ vector[k] for k in range(500)])
    np.testing.assert_array_equal(transpose_times(rotation, vector), products)
    direction = rng.normal(size=3)
    dots = np.array([vector[k] @ direction for k in range(500)])
    np.testing.assert_array_equal(dot_rows(vector, direction), dots)


@pytest.mark.parametrize("name", [name for name, _, _ in SALAMANDER_TASKS])
def test_v0_ids_keep_the_original_settings(name):
    old, new = make(f"stateful_rl/{name}-v0").unwrapped, make(f"stateful_rl/{name}-v1").unwrapped
    assert (old.settings.rotational_drag, new.settings.rotational_drag) == (0.0, 1.1)
    assert (old.settings.turn_style, new.settings.turn_style) == ("offset", "sharp")
    assert (old.settings.start_posture, new.settings.start_posture) == ("spread", "folded")
    old.reset(seed=0)
    legs = old.data.qpos[7:][_tree_order()][8:]
    assert not legs.any()  # v0 starts with the legs straight out sideways
