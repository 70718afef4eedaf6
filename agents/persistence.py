"""What agents write to disk and read back, safely: nothing read ever executes code.

- :func:`write_atomic`: every file is written to a temporary file and renamed, so a reader
  (or a crash) never sees half a file.
- :func:`check_archive`: a zip (a saved model, and torch's own checkpoint format) is opened
  only after its declared sizes are checked, so a small file cannot expand into gigabytes.
- :func:`load_tensors`: ``torch.load(..., weights_only=True)``, which unpickles only
  tensors and plain containers, behind :func:`check_archive`.
- :func:`encode` / :func:`decode`: an agent's training state as tensors and plain data
  (numbers, strings, lists, tuples, dicts), the only things ``weights_only`` loads. A few
  types are encoded as tagged dicts (numpy arrays and scalars, generators, deques, running
  statistics, replay buffers) and rebuilt by this module's own code, never by names read
  from the file.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd

from stateful_rl.agents.env_replay import ActionLog
from stateful_rl.agents.replay import ReplayBuffer

# Largest uncompressed size a saved archive may declare, and the largest compression ratio
# of a member above 1 MiB: our own archives are stored uncompressed (ratio 1), and model
# weights barely compress, so a high ratio means a file built to expand.
MAX_ARCHIVE_BYTES = 4 * 2**30
MAX_COMPRESSION_RATIO = 50.0
KIND = "__kind__"


class UnsafeFileError(ValueError):
    """A file that is not what this library writes: refused before anything is loaded."""


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (readers never see half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a saved file is an ordinary one
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_archive(
    source: str | os.PathLike | bytes, what: str, max_bytes: int = MAX_ARCHIVE_BYTES
) -> None:
    """Raise :class:`UnsafeFileError` unless ``source`` (a path or bytes) is a zip archive
    whose members declare at most ``max_bytes`` in all and none of them expands more than
    ``MAX_COMPRESSION_RATIO`` times (checked before anything is decompressed)."""
    try:
        handle = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnsafeFileError(f"{what} is not a readable zip archive: {error}") from None
    with handle:
        members = handle.infolist()
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise UnsafeFileError(
            f"{what} declares {total / 2**30:.2f} GiB uncompressed, more than the "
            f"{max_bytes / 2**30:.2f} GiB allowed: refused"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 2**20 and ratio > MAX_COMPRESSION_RATIO:
            raise UnsafeFileError(
                f"{what}: member {member.filename!r} would expand {ratio:.0f}× "
                f"({member.file_size / 2**20:.0f} MiB): refused as a zip bomb"
            )


def load_tensors(source: str | os.PathLike | bytes, what: str) -> Any:
    """``torch.load`` with ``weights_only=True`` (tensors and plain containers only) onto
    the CPU, after :func:`check_archive`; anything else raises :class:`UnsafeFileError`."""
    check_archive(source, what)
    buffer = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return torch.load(buffer, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UnsafeFileError(
            f"{what} holds more than tensors and plain data (or is damaged); refusing to "
            f"unpickle it: {first_line}"
        ) from None


def check_finite_tensors(tensors: dict[str, torch.Tensor], what: str) -> None:
    """Raise ``ValueError`` naming the first floating tensor that holds NaN or inf."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{what}: {name} holds non-finite values (NaN or inf): refused")


# ----------------------------------------------------------------- training-state codec
def encode(value: Any, where: str = "state") -> Any:
    """``value`` as tensors and plain data that ``torch.load(weights_only=True)`` reads
    (see the module docstring); an unsupported type raises ``TypeError`` naming ``where``."""
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{where}: object arrays are not saved")
        return {KIND: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return {KIND: "numpy_scalar", "data": torch.from_numpy(np.asarray(value).reshape(1))}
    if isinstance(value, np.random.Generator):
        return {KIND: "generator", "state": value.bit_generator.state}
    if isinstance(value, RunningMeanStd):
        return {KIND: "running_mean_std", "fields": encode(vars(value), where)}
    if isinstance(value, ReplayBuffer):
        return {KIND: "replay_buffer", "fields": encode(vars(value), where)}
    if isinstance(value, ActionLog):
        value.compact()
        return {KIND: "action_log", "fields": encode(vars(value), where)}
    if isinstance(value, deque):
        return {KIND: "deque", "items": encode(list(value), where), "maxlen": value.maxlen}
    if isinstance(value, OrderedDict):
        return OrderedDict((k, encode(v, f"{where}.{k}")) for k, v in value.items())
    if isinstance(value, dict):
        if KIND in value or not all(isinstance(k, str | int) for k in value):
            raise TypeError(f"{where}: dicts need str or int keys and no {KIND!r} key")
        return {k: encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(encode(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"{where}: cannot save a {type(value).__name__} in a training state")


def _rebuild(cls: type, fields: dict[str, Any]) -> Any:
    obj: Any = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def decode(value: Any, where: str = "state") -> Any:
    """Inverse of :func:`encode`; an unknown tag raises :class:`UnsafeFileError`."""
    if isinstance(value, OrderedDict):
        return OrderedDict((k, decode(v, f"{where}.{k}")) for k, v in value.items())
    if isinstance(value, dict):
        kind = value.get(KIND)
        if kind is None:
            return {k: decode(v, f"{where}.{k}") for k, v in value.items()}
        if kind == "ndarray":
            return value["data"].numpy().copy()
        if kind == "numpy_scalar":
            return value["data"].numpy()[0]
        if kind == "generator":
            generator = np.random.default_rng()
            generator.bit_generator.state = value["state"]
            return generator
        if kind == "running_mean_std":
            return _rebuild(RunningMeanStd, decode(value["fields"], where))
        if kind == "replay_buffer":
            return _rebuild(ReplayBuffer, decode(value["fields"], where))
        if kind == "action_log":
            return _rebuild(ActionLog, decode(value["fields"], where))
        if kind == "deque":
            return deque(decode(value["items"], where), maxlen=value["maxlen"])
        raise UnsafeFileError(f"{where}: unknown entry kind {kind!r}")
    if isinstance(value, list):
        return [decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(decode(v, f"{where}[{i}]") for i, v in enumerate(value))
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    raise UnsafeFileError(f"{where}: unexpected {type(value).__name__}")


def global_rng_state() -> dict[str, Any]:
    """The global generators (python, numpy, torch, CUDA) as plain data and tensors."""
    import random

    state = np.random.get_state(legacy=True)  # noqa: NPY002
    assert isinstance(state, tuple)  # the legacy form, which set_state takes back
    kind, keys, pos, has_gauss, cached = state
    version, internal, gauss = random.getstate()
    return {
        "python": (version, list(internal), gauss),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned."""
    import random

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
