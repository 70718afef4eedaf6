"""Videos of episodes: mp4 (H.264 through ``imageio-ffmpeg``) when it is installed, else GIF.

Frames are enlarged by whole factors (nearest neighbour, sharp pixels) to at least
``MIN_HEIGHT`` pixels: the small envs render 48-80 pixel images. mp4 needs even sides, so
the frame is padded by a pixel where needed.
"""

from __future__ import annotations

import importlib.util
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from stateful_rl.agents.persistence import write_atomic

MIN_HEIGHT = 360


def video_suffix() -> str:
    """``".mp4"`` when ``imageio-ffmpeg`` is installed, else ``".gif"``."""
    return ".mp4" if importlib.util.find_spec("imageio_ffmpeg") is not None else ".gif"


def enlarge(frame: np.ndarray, min_height: int = MIN_HEIGHT) -> np.ndarray:
    """``frame[H, W, 3]`` repeated ``ceil(min_height / H)`` times along both axes."""
    factor = max(1, -(-min_height // frame.shape[0]))
    return frame.repeat(factor, axis=0).repeat(factor, axis=1)


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write ``frames`` (uint8 ``[H, W, 3]``) to ``path`` with :func:`video_suffix`'s format
    (the suffix of ``path`` is replaced), atomically; returns the path written."""
    path = path.with_suffix(video_suffix())
    frames = [enlarge(np.asarray(f, dtype=np.uint8)) for f in frames]
    if path.suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        data = io.BytesIO()
        images[0].save(
            data, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0
        )
        write_atomic(path, data.getvalue())
        return path
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    even = (height + height % 2, width + width % 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(
            tmp, (even[1], even[0]), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
            macro_block_size=1, output_params=["-f", "mp4"],
        )  # fmt: skip
        writer.send(None)
        for frame in frames:
            padded = np.zeros((*even, 3), dtype=np.uint8)
            padded[:height, :width] = frame
            writer.send(np.ascontiguousarray(padded))
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
