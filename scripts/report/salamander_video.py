"""Videos of the CPG-driven salamander: swimming, walking and the land-to-water transition.

Open-loop CPG drives (no learning): swim at d = 4, walk at d = 2, and on the amphibious
scene walk until the head and the trunk are wet, then swim (``amphibious.reference_drives``). Frames
come from the tracking camera (``render_mode="rgb_array"``, EGL when headless). One file
per scene; ``.gif`` (Pillow) or ``.mp4`` (needs ``imageio[ffmpeg]``), written atomically.

    python -m stateful_rl.report.salamander_video --out-dir runs/salamander_videos
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents.base import write_atomic
from stateful_rl.envs.salamander.amphibious import reference_drives

WALK_DRIVE, SWIM_DRIVE = 2.0, 4.0
SCENES: dict[str, tuple[str, Callable[[dict], np.ndarray]]] = {
    "swim": ("stateful_rl/SalamanderSwim-v0", lambda info: np.array([SWIM_DRIVE, SWIM_DRIVE])),
    "walk": ("stateful_rl/SalamanderWalk-v0", lambda info: np.array([WALK_DRIVE, WALK_DRIVE])),
    "amphibious": ("stateful_rl/SalamanderAmphibious-v0", reference_drives),
}


def record(
    env_id: str,
    policy: Callable[[dict], np.ndarray],
    seconds: float,
    every: int,
    size: tuple[int, int],
    seed: int = 0,
) -> tuple[list[np.ndarray], float]:
    """Frames [H, W, 3] of one episode (every ``every``-th control step) and the frame rate."""
    env = gym.make(env_id, control="cpg", render_mode="rgb_array", width=size[0], height=size[1])
    _, info = env.reset(seed=seed)
    frames = [env.render()]
    steps = round(seconds / env.unwrapped.control_dt)
    for step in range(1, steps + 1):
        _, _, terminated, truncated, info = env.step(policy(info))
        if step % every == 0:
            frames.append(env.render())
        if terminated or truncated:
            break
    fps = 1.0 / (every * env.unwrapped.control_dt)
    env.close()
    return frames, fps


def encode(frames: list[np.ndarray], fps: float, extension: str) -> bytes:
    """The frames as a GIF or MP4 file's bytes."""
    import imageio.v3 as iio

    if extension == ".gif":
        return iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 / fps, loop=0)
    return iio.imwrite("<bytes>", frames, extension=".mp4", fps=fps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/salamander_videos"))
    parser.add_argument("--format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest scene (s)")
    parser.add_argument("--every", type=int, default=2, help="render every n-th control step")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--scenes", nargs="+", choices=tuple(SCENES), default=tuple(SCENES))
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.every < 1:
        raise ValueError("--seconds must be > 0 and --every >= 1")
    for scene in args.scenes:
        env_id, policy = SCENES[scene]
        frames, fps = record(env_id, policy, args.seconds, args.every, tuple(args.size))
        path = args.out_dir / f"{scene}.{args.format}"
        write_atomic(path, encode(frames, fps, path.suffix))
        print(f"wrote {path} ({len(frames)} frames at {fps:g} fps)")


if __name__ == "__main__":
    main()
