"""Reference policies of ``SalamanderTarget`` and the memory score measured against them.

The yardsticks of a memory task: a learner's memory score is
``(R − R_memoryless) / (R_bayes − R_memoryless)``: 0 at the best policy of the current
observation alone, 1 at the best policy of the whole observation history. Here:

- ``random``: uniform ``cpg_discrete`` actions (the floor the gap is compared with).
- ``memoryless``: the best reactive controller found (``MemorylessPolicy``): a linear
  score per action over features of the current observation (the seen goal's bearing
  and distance, the CPG's current turn and drive, the head's speed and turn rate),
  optimised by CMA-ES (``optimise_memoryless``) on training seeds; its parameters live
  in ``memoryless_target.json`` next to this module.
- ``dead_reckoning``: the Bayes reference (``DeadReckoningPolicy``). The goal is fixed and
  the body's motion is observed (head velocity, turn rate, tilt), so the posterior over
  the goal is a point: the last seen goal carried along by odometry. It integrates the
  head's velocity (and, without the compass, its turn rate) from the observations to
  keep that goal in body coordinates, and steers to it like the oracle.
- ``oracle``: steers to the true goal (the env's hidden state).

All act on the native vector env with ``control="cpg_discrete"`` and
``observation="full"``, one numpy call per step for the whole batch. The steering of the
oracle and of dead reckoning (``HeadingSteering``) turns by the bearing of the goal from a
smoothed body axis: the head swings ±35° with every stroke, the body axis (centre of
mass → head, ``BodyAxis``) about a third of that, and smoothing over a stroke removes the
rest (steering on the swinging head switches turns every few steps and misses).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from stateful_rl.envs.reference_policies import memory_score
from stateful_rl.envs.salamander.base import SalamanderVectorEnv, make_env
from stateful_rl.envs.salamander.cpg import N_BODY, N_OSCILLATORS, N_SEGMENTS
from stateful_rl.envs.salamander.model import JOINT_NAMES, SalamanderBody
from stateful_rl.envs.salamander.settings import TURNS
from stateful_rl.envs.vector import NativeVectorEnv

__all__ = [
    "POLICIES",
    "DeadReckoningPolicy",
    "MemorylessPolicy",
    "OraclePolicy",
    "RandomPolicy",
    "memory_score",
    "reference_returns",
]

# Columns of the "full" observation with CPG control (see SalamanderSwimEnv's table).
N_JOINTS = len(JOINT_NAMES)
SPINE = slice(0, N_SEGMENTS)
QUATERNION = slice(N_JOINTS, N_JOINTS + 4)
LINEAR_VELOCITY = slice(2 * N_JOINTS + 5, 2 * N_JOINTS + 8)
ANGULAR_VELOCITY = slice(2 * N_JOINTS + 8, 2 * N_JOINTS + 11)
_CPG = 2 * N_JOINTS + 11
AMPLITUDE = slice(_CPG + 2 * N_OSCILLATORS, _CPG + 3 * N_OSCILLATORS)
LEFT, STRAIGHT, RIGHT = (TURNS.index(t) for t in ("left", "straight", "right"))
POLICIES = ("random", "memoryless", "dead_reckoning", "oracle")
PARAMETERS_FILE = Path(__file__).with_name("memoryless_target.json")


def wrap(angle: NDArray) -> NDArray:
    """Angles (rad) wrapped into [−π, π)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def quaternion_matrices(quat: NDArray) -> NDArray:
    """Rotation matrices [B, 3, 3] of unit quaternions ``quat`` [B, 4] (w, x, y, z)."""
    w, x, y, z = quat.T
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def heading(rotation: NDArray) -> NDArray:
    """Heading (rad, anticlockwise from +x) of the forward axis of rotations [B, 3, 3]."""
    return np.arctan2(rotation[:, 1, 0], rotation[:, 0, 0])


def yaw_rotation(angle: NDArray) -> NDArray:
    """Rotations [B, 3, 3] by ``angle`` [B] (rad) about the vertical axis."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((len(angle), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1], out[:, 2, 2] = c, -s, s, c, 1.0
    return out


class BodyAxis:
    """Direction of the body axis (centre of mass → head origin) in the head frame, from the
    spine angles alone: the planar chain of ``body``'s links, each a capsule of its radius
    at ``body_density``, the legs' mass at their girdle links (they hang symmetrically)."""

    def __init__(self, body: SalamanderBody) -> None:
        radii, length = np.array(body.link_radii), body.link_length
        mass = body.body_density * np.pi * radii**2 * (length + 4 / 3 * radii)
        leg = (
            body.leg_density
            * np.pi
            * sum(r**2 * (h + 4 / 3 * r) for h, r in (body.upper_leg, body.lower_leg))
        )
        mass[[body.fore_girdle, body.hind_girdle]] += 2 * leg
        self.weights = mass / mass.sum()
        self.length = length

    def angle(self, spine: NDArray) -> NDArray:
        """Angle (rad) of the body axis from the head's forward axis, [B], for spine joint
        angles ``spine`` [B, 8] (rad; the joints turn about −z, so positive bends right)."""
        n = len(spine)
        link_angle = np.concatenate([np.zeros((n, 1)), -np.cumsum(spine, axis=1)], axis=1)
        dx, dy = -self.length * np.cos(link_angle), -self.length * np.sin(link_angle)
        # Link k runs from its origin (the sum of the links before it) back along its angle.
        cx = np.cumsum(dx, axis=1) - 0.5 * dx
        cy = np.cumsum(dy, axis=1) - 0.5 * dy
        return np.arctan2(-(cy @ self.weights), -(cx @ self.weights))


def turn_actions(bearing: NDArray, dead_band: float, level: int) -> NDArray[np.int64]:
    """Bang-bang turns: left above ``dead_band``, right below ``−dead_band``, else straight,
    at drive level index ``level`` (``cpg_discrete`` action ``3 level + turn``)."""
    turn = np.where(bearing > dead_band, LEFT, np.where(bearing < -dead_band, RIGHT, STRAIGHT))
    return len(TURNS) * level + turn


class HeadingSteering:
    """Turns towards a goal direction from the body axis's heading averaged over the last
    ``smoothing`` control steps (an exponential mean of its unit vector)."""

    def __init__(self, n: int, dead_band: float, level: int, smoothing: float) -> None:
        self.dead_band, self.level, self.rate = dead_band, level, 1.0 / smoothing
        self.mean_axis = np.zeros((n, 2))

    def __call__(
        self, axis_heading: NDArray, goal_direction: NDArray, episode_start: NDArray
    ) -> NDArray[np.int64]:
        unit = np.stack([np.cos(axis_heading), np.sin(axis_heading)], axis=1)
        mean = self.mean_axis + self.rate * (unit - self.mean_axis)
        self.mean_axis = np.where(episode_start[:, None], unit, mean)
        smoothed = np.arctan2(self.mean_axis[:, 1], self.mean_axis[:, 0])
        return turn_actions(wrap(goal_direction - smoothed), self.dead_band, self.level)


class TargetPolicy:
    """A policy on a batch of ``SalamanderTarget`` animals: ``act(obs, info,
    episode_start)`` → actions [B]. ``task`` is the env's ``TargetTask`` (the oracle reads
    the hidden goal from it; the others only its settings)."""

    def __init__(self, task: Any, num_envs: int, seed: int = 0) -> None:
        settings = task.animals.settings
        if settings.control != "cpg_discrete" or settings.observation != "full":
            raise ValueError(
                "the reference policies need control='cpg_discrete' and observation='full', "
                f"got {settings.control!r} and {settings.observation!r}"
            )
        self.task, self.n = task, num_envs
        self.n_actions = len(settings.drive_levels) * len(TURNS)
        self.top_level = len(settings.drive_levels) - 1
        self.axis = BodyAxis(settings.body)
        self.dt = task.animals.control_dt
        self.rng = np.random.default_rng(seed)

    def act(self, obs: NDArray, info: dict[str, Any], episode_start: NDArray) -> NDArray:
        raise NotImplementedError


class RandomPolicy(TargetPolicy):
    """Uniform actions."""

    def act(self, obs, info, episode_start):
        return self.rng.integers(self.n_actions, size=self.n)


# Steering of the oracle and of dead reckoning: the best of a grid of dead bands (rad),
# smoothing (control steps) and drive levels on training seeds (stateful_rl.bench.
# salamander_agents references): the top level, a dead band wider than the smoothed axis's
# remaining sway.
STEERING = {"dead_band": 0.3, "smoothing": 5.0}


class OraclePolicy(TargetPolicy):
    """Steers to the true goal (the hidden state), with the true head orientation."""

    def __init__(self, task: Any, num_envs: int, seed: int = 0, **steering: float) -> None:
        super().__init__(task, num_envs, seed)
        kwargs = {**STEERING, **steering}
        self.steer = HeadingSteering(
            num_envs, kwargs["dead_band"], self.top_level, kwargs["smoothing"]
        )

    def act(self, obs, info, episode_start):
        animals = self.task.animals
        rotation = animals.rotation.reshape(-1, 3, 3)
        offset = self.task.goal[:, :2] - animals.qpos[:, :2]
        axis_heading = heading(rotation) + self.axis.angle(obs[:, SPINE])
        return self.steer(axis_heading, np.arctan2(offset[:, 1], offset[:, 0]), episode_start)


class DeadReckoningPolicy(TargetPolicy):
    """The Bayes reference: the last seen goal kept by odometry, steered to like the oracle.

    In an odometry frame fixed at the episode's start (horizontal, origin at the start),
    ``position`` [B, 2] (m) integrates the head's velocity (observed in the head frame)
    rotated by the head's orientation: the observed quaternion with the compass, else the
    observed tilt turned by ``heading_estimate`` [B] (rad), which integrates the head's
    vertical turn rate (the observed angular velocity rotated by the tilt). Both integrals
    use the trapezoidal rule over the control period. ``goal`` [B, 2] is the goal's
    position in that frame, reset from the observation whenever the goal is seen;
    ``estimate`` [B, 2] (m) is its position in the head frame (x forward, y left). Until a
    goal has been seen the animal turns left on the spot (a search).
    """

    def __init__(self, task: Any, num_envs: int, seed: int = 0, **steering: float) -> None:
        super().__init__(task, num_envs, seed)
        kwargs = {**STEERING, **steering}
        self.steer = HeadingSteering(
            num_envs, kwargs["dead_band"], self.top_level, kwargs["smoothing"]
        )
        self.compass = task.animals.settings.compass
        self.position = np.zeros((num_envs, 2))
        self.goal = np.zeros((num_envs, 2))
        self.known = np.zeros(num_envs, dtype=bool)
        self.heading_estimate = np.zeros(num_envs)
        self.estimate = np.zeros((num_envs, 2))
        self._velocity = np.zeros((num_envs, 2))
        self._turn_rate = np.zeros(num_envs)

    def orientation(self, obs: NDArray, episode_start: NDArray) -> NDArray:
        """The head's orientation [B, 3, 3] in the odometry frame."""
        rotation = quaternion_matrices(obs[:, QUATERNION])
        if self.compass:
            return rotation
        # The heading's rate of the forward axis f under the angular velocity w (both in
        # the tilt frame, where f has no y component): w_z − f_z w_x / f_x.
        spin = np.einsum("bij,bj->bi", rotation, obs[:, ANGULAR_VELOCITY])
        forward = rotation[:, :, 0]
        rate = spin[:, 2] - forward[:, 2] * spin[:, 0] / forward[:, 0]
        integrated = self.heading_estimate + 0.5 * self.dt * (rate + self._turn_rate)
        self.heading_estimate = np.where(episode_start, 0.0, integrated)
        self._turn_rate = rate
        return yaw_rotation(self.heading_estimate) @ rotation

    def act(self, obs, info, episode_start):
        rotation = self.orientation(obs, episode_start)
        velocity = np.einsum("bij,bj->bi", rotation, obs[:, LINEAR_VELOCITY])[:, :2]
        moved = self.position + 0.5 * self.dt * (velocity + self._velocity)
        self.position = np.where(episode_start[:, None], 0.0, moved)
        self._velocity = velocity
        seen = np.zeros((self.n, 3))
        seen[:, :2] = obs[:, -2:]
        seen_goal = self.position + np.einsum("bij,bj->bi", rotation, seen)[:, :2]
        visible = obs[:, -3] > 0
        self.goal = np.where(visible[:, None], seen_goal, self.goal)
        self.known = (self.known & ~episode_start) | visible
        offset = np.zeros((self.n, 3))
        offset[:, :2] = self.goal - self.position
        self.estimate = np.einsum("bji,bj->bi", rotation, offset)[:, :2]
        axis_heading = heading(rotation) + self.axis.angle(obs[:, SPINE])
        direction = np.arctan2(offset[:, 1], offset[:, 0])
        actions = self.steer(axis_heading, direction, episode_start)
        return np.where(self.known, actions, len(TURNS) * self.top_level + LEFT)


class MemorylessPolicy(TargetPolicy):
    """The best reactive controller found: a function of the current observation alone.

    Features (``features``, [B, 9]), split by whether the goal is seen (v = 1) or not:
    seen: v, v·sin β, v·cos β, v·ρ/2 (β: the goal's bearing from the body axis, ρ its
    distance in m); unseen: 1 − v and, times 1 − v, the CPG's current turn (mean left minus
    mean right body amplitude, /0.5 rad), its drive (mean body amplitude, /0.5 rad), the
    head's forward speed (/0.15 m/s) and vertical turn rate (/3 rad/s): what the body
    itself keeps of the recent past. Action: the turn with the highest score (left and
    right ``features @ w``, straight 0) at the drive level with the highest score (level 0:
    0, the others ``[v, 1 − v, (1 − v)·|turn|, (1 − v)·drive] @ w``). ``params`` [P] or
    [B, P] (one row per sub-env, for optimising a population at once); default: the
    optimised ones stored in ``memoryless_target.json``.
    """

    n_features: ClassVar[int] = 9
    n_level_features: ClassVar[int] = 4

    def __init__(
        self, task: Any, num_envs: int, seed: int = 0, params: NDArray | None = None
    ) -> None:
        super().__init__(task, num_envs, seed)
        params = load_memoryless_parameters() if params is None else np.asarray(params, float)
        size = self.n_parameters(len(task.animals.settings.drive_levels))
        if params.shape[-1] != size or params.ndim not in (1, 2) or not np.isfinite(params).all():
            raise ValueError(
                f"params must be finite, shape [{size}] or [B, {size}], got {params.shape}"
            )
        params = np.broadcast_to(params, (num_envs, size))
        f, g = self.n_features, self.n_level_features
        self.turn_weights = params[:, : 2 * f].reshape(num_envs, 2, f)
        self.level_weights = params[:, 2 * f :].reshape(num_envs, -1, g)

    @classmethod
    def n_parameters(cls, n_levels: int) -> int:
        """Parameters of the controller for ``n_levels`` drive levels."""
        return 2 * cls.n_features + (n_levels - 1) * cls.n_level_features

    def features(self, obs: NDArray) -> NDArray:
        """[B, 9] (see the class docstring)."""
        seen = obs[:, -3]
        unseen = 1.0 - seen
        x, y = obs[:, -2], obs[:, -1]
        bearing = np.arctan2(y, x) - self.axis.angle(obs[:, SPINE])
        amplitude = obs[:, AMPLITUDE]
        left, right = amplitude[:, :N_SEGMENTS].mean(1), amplitude[:, N_SEGMENTS:N_BODY].mean(1)
        tilt = quaternion_matrices(obs[:, QUATERNION])
        turn_rate = np.einsum("bj,bj->b", tilt[:, 2], obs[:, ANGULAR_VELOCITY])
        return np.stack(
            [
                seen,
                seen * np.sin(bearing),
                seen * np.cos(bearing),
                seen * 0.5 * np.hypot(x, y),
                unseen,
                unseen * (left - right) / 0.5,
                unseen * 0.5 * (left + right) / 0.5,
                unseen * obs[:, LINEAR_VELOCITY.start] / 0.15,
                unseen * turn_rate / 3.0,
            ],
            axis=1,
        )

    def act(self, obs, info, episode_start):
        phi = self.features(obs)
        turn_scores = np.zeros((self.n, len(TURNS)))
        turn_scores[:, [LEFT, RIGHT]] = np.einsum("bkf,bf->bk", self.turn_weights, phi)
        level_phi = np.stack([phi[:, 0], phi[:, 4], np.abs(phi[:, 5]), phi[:, 6]], axis=1)
        level_scores = np.zeros((self.n, self.level_weights.shape[1] + 1))
        level_scores[:, 1:] = np.einsum("bkf,bf->bk", self.level_weights, level_phi)
        return len(TURNS) * level_scores.argmax(1) + turn_scores.argmax(1)


def load_memoryless_parameters(path: Path = PARAMETERS_FILE) -> NDArray:
    """The optimised ``MemorylessPolicy`` parameters stored in ``path``."""
    return np.array(json.loads(path.read_text())["params"])


POLICY_CLASSES: dict[str, type[TargetPolicy]] = {
    "random": RandomPolicy,
    "memoryless": MemorylessPolicy,
    "dead_reckoning": DeadReckoningPolicy,
    "oracle": OraclePolicy,
}


@dataclass(frozen=True)
class Episodes:
    """One episode per seed: ``returns``, ``reached`` (the goal), ``lengths`` (steps), each
    [n_episodes]."""

    returns: NDArray[np.float64]
    reached: NDArray[np.bool_]
    lengths: NDArray[np.int64]

    def mean_and_error(self) -> tuple[float, float]:
        """Mean return and its standard error."""
        return float(self.returns.mean()), float(
            self.returns.std(ddof=1) / np.sqrt(len(self.returns))
        )


def rollout(env: NativeVectorEnv, policy: TargetPolicy, seeds: list[int]) -> Episodes:
    """One episode per sub-env of the native vector env ``env``, sub-env ``i`` reset with
    ``seeds[i]``, acting with ``policy``."""
    n = env.num_envs
    obs, info = env.reset(seed=seeds)
    returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
    running, reached = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    start = np.ones(n, dtype=bool)
    while running.any():
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info, start))
        returns += np.where(running, reward, 0.0)
        lengths += running
        reached |= running & terminated
        start = terminated | truncated
        running &= ~start
    return Episodes(returns, reached, lengths)


def make_vector_env(env_id: str, num_envs: int, **env_kwargs: Any) -> SalamanderVectorEnv:
    """The native vector env of ``env_id`` with ``num_envs`` sub-envs; ``ValueError`` if
    ``env_id`` names another kind of environment."""
    env = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs
    )
    if not isinstance(env, SalamanderVectorEnv):
        raise ValueError(f"env_id must name a salamander environment, got {env_id!r}")
    return env


def run_episodes(
    env_id: str,
    policy: str | type[TargetPolicy],
    n_episodes: int = 100,
    seed: int = 0,
    policy_kwargs: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> Episodes:
    """``n_episodes`` episodes with seeds ``seed``, ``seed + 1``, ... (the same for every
    policy) of ``policy`` (a name in ``POLICIES`` or a class, seeded with ``seed``)."""
    if isinstance(policy, str):
        if policy not in POLICY_CLASSES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        policy = POLICY_CLASSES[policy]
    env = make_vector_env(env_id, n_episodes, **env_kwargs)
    agent = policy(env.animals.task, n_episodes, seed, **(policy_kwargs or {}))
    episodes = rollout(env, agent, [seed + i for i in range(n_episodes)])
    env.close()
    return episodes


def reference_returns(
    env_id: str, n_episodes: int = 100, seed: int = 0, **env_kwargs: Any
) -> dict[str, Episodes]:
    """Every reference policy's episodes on the same seeds (see ``run_episodes``)."""
    return {name: run_episodes(env_id, name, n_episodes, seed, **env_kwargs) for name in POLICIES}


def gap_ratio(means: dict[str, float]) -> float:
    """``(R_bayes − R_memoryless) / (R_bayes − R_random)`` of the references' mean returns
    (keys of ``POLICIES``): the share of the distance from random to Bayes-optimal that
    only memory covers."""
    bayes = means["dead_reckoning"]
    return float((bayes - means["memoryless"]) / (bayes - means["random"]))


def initial_memoryless_parameters(n_levels: int) -> NDArray:
    """A hand-made start for the optimiser: while the goal is seen, turn to it (dead band
    0.3 rad) at the top level; unseen, keep the CPG's current turn at the lowest level
    (circling on the spot, cheap) and keep going straight if it was straight."""
    f = MemorylessPolicy.n_features
    left, right = np.zeros(f), np.zeros(f)
    left[[0, 1, 4, 5]] = -10 * np.sin(0.3), 10.0, -1.0, 5.0
    right[[0, 1, 4, 5]] = -10 * np.sin(0.3), -10.0, -1.0, -5.0
    levels = np.full((n_levels - 1, MemorylessPolicy.n_level_features), 0.0)
    levels[:, :2] = -5.0  # below level 0, seen or not
    if n_levels > 1:
        levels[-1, 0] = 5.0  # the top level while the goal is seen
    return np.concatenate([left, right, levels.ravel()])


def optimise_memoryless(
    env_id: str,
    generations: int = 40,
    popsize: int = 12,
    episodes: int = 16,
    seed: int = 0,
    sigma: float = 2.0,
    progress: Callable[[NDArray, list[tuple[int, float, float]]], None] | None = None,
    **env_kwargs: Any,
) -> tuple[NDArray, list[tuple[int, float, float]]]:
    """CMA-ES (Hansen's ``cma``) over ``MemorylessPolicy``'s parameters, from
    ``initial_memoryless_parameters``: each generation scores its ``popsize`` candidates on
    the same ``episodes`` training seeds (fresh ones every generation, from
    ``seed · 10⁶``), all in one vector env. Returns CMA-ES's final mean (its estimate of
    the optimum, less noisy than the best single score) and per generation (generation,
    best mean return, mean return of the population); ``progress(mean, history)`` is
    called after every generation."""
    import cma

    probe = make_env(env_id, **env_kwargs)
    n_levels = len(probe.settings.drive_levels)
    probe.close()
    strategy = cma.CMAEvolutionStrategy(
        initial_memoryless_parameters(n_levels),
        sigma,
        {"popsize": popsize, "seed": seed + 1, "verbose": -9},
    )
    history: list[tuple[int, float, float]] = []
    for generation in range(generations):
        candidates = np.array(strategy.ask())
        params = np.repeat(candidates, episodes, axis=0)
        first = seed * 1_000_000 + generation * episodes
        env = make_vector_env(env_id, len(params), **env_kwargs)
        policy = MemorylessPolicy(env.animals.task, len(params), params=params)
        episodes_run = rollout(env, policy, [first + i % episodes for i in range(len(params))])
        env.close()
        scores = episodes_run.returns.reshape(popsize, episodes).mean(axis=1)
        strategy.tell(list(candidates), list(-scores))
        history.append((generation, float(scores.max()), float(scores.mean())))
        if progress is not None:
            progress(np.asarray(strategy.mean), history)
    return np.asarray(strategy.mean), history
