"""The encoders' private-API fast paths equal their public fallbacks; the fallback runs when
``STATEFUL_RL_FORCE_FALLBACK=1`` or when the private API is gone, at the cost of speed only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE, forget_fast_paths
from stateful_rl.agents.optim import DIRECT_FUSED_ADAM
from stateful_rl.encoders import EchoStateEncoder, ElmanEncoder, LSTMEncoder, StateEncoder
from stateful_rl.encoders.fused_rnn import ATEN_RNN, KINDS, RNNKind, rnn_layer
from stateful_rl.encoders.tensor_writes import TENSOR_VERSION, WriteWatch

T, B, F = 9, 3, 2
FLOAT64 = {"rtol": 1e-12, "atol": 1e-12}
# float32: the same kernel either way, so equal up to float32 rounding of reordered sums
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}
DTYPES = [(torch.float64, FLOAT64), (torch.float32, FLOAT32)]


@pytest.fixture(autouse=True)
def fresh_decisions() -> Iterator[None]:
    """Each test decides the fast paths anew, and leaves no decision behind."""
    forget_fast_paths()
    yield
    forget_fast_paths()


def use_fast_paths(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    """Allow the fast paths (``fast``) or force every fallback, deciding anew."""
    if fast:
        monkeypatch.delenv(FORCE_FALLBACK_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(FORCE_FALLBACK_VARIABLE, "1")
    forget_fast_paths()


class CountingOp:
    """Stands in for ``torch.ops.aten.rnn_*`` and counts calls of its ``.input`` overload."""

    def __init__(self, op: Any) -> None:
        self.op, self.calls = op, 0

    def input(self, *args: Any) -> Any:
        self.calls += 1
        return self.op.input(*args)


def count_private_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, CountingOp]:
    """Wrap ATen's RNN ops (``torch.lstm`` is ``aten.lstm.input``) in counters; the
    modules' fallback reaches the kernels through ``torch._VF``, which is not wrapped."""
    counters = {
        "tanh": CountingOp(torch.ops.aten.rnn_tanh),
        "relu": CountingOp(torch.ops.aten.rnn_relu),
        "lstm": CountingOp(torch.ops.aten.lstm),
    }
    monkeypatch.setattr(torch.ops.aten, "rnn_tanh", counters["tanh"])
    monkeypatch.setattr(torch.ops.aten, "rnn_relu", counters["relu"])
    monkeypatch.setattr(torch, "lstm", counters["lstm"].input)
    return counters


def rnn_inputs(kind: RNNKind, dtype: torch.dtype) -> list[torch.Tensor]:
    """``x``, ``h0`` (, ``c0``) and the four weights, as leaves that need gradients."""
    g = torch.Generator().manual_seed(0)
    hidden, gates = 4, 4 * 4 if kind == "lstm" else 4
    shapes = [(T, B, F), *[(1, B, hidden)] * (2 if kind == "lstm" else 1)]
    shapes += [(gates, F), (gates, hidden), (gates,), (gates,)]
    return [
        (torch.rand(s, generator=g, dtype=torch.float64) - 0.5).to(dtype).requires_grad_(True)
        for s in shapes
    ]


def rnn_results(kind: RNNKind, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    """Outputs, final state and the gradients of a loss of both with respect to ``leaves``."""
    states = 2 if kind == "lstm" else 1
    x, hx, weights = leaves[0], tuple(leaves[1 : 1 + states]), leaves[1 + states :]
    out, state = rnn_layer(kind, x, hx, weights)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
    loss = loss + sum(s.square().sum() for s in state)
    return [out, *state, *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("dtype", "tolerance"), DTYPES)
def test_rnn_layer_fallback_equals_fast_path(
    monkeypatch: pytest.MonkeyPatch, kind: RNNKind, dtype: torch.dtype, tolerance: dict
) -> None:
    """Outputs, final states and every gradient; the fast path is the one that ran."""
    counters = count_private_calls(monkeypatch)
    results = []
    for fast in (True, False):
        use_fast_paths(monkeypatch, fast)
        assert ATEN_RNN[kind]() is fast  # decided (the probe calls the op) before counting
        calls = counters[kind].calls
        results.append(rnn_results(kind, rnn_inputs(kind, dtype)))
        assert (counters[kind].calls > calls) is fast
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **tolerance)


def encoder_results(
    encoder: StateEncoder, x: torch.Tensor, starts: torch.Tensor
) -> list[torch.Tensor]:
    """Features, final state and the gradients with respect to input, state and weights."""
    g = torch.Generator().manual_seed(1)
    x = x.clone().requires_grad_(True)
    state0 = tuple(
        torch.randn(s.shape, generator=g, dtype=x.dtype).requires_grad_(True)
        for s in encoder.initial_state(x.shape[1])
    )
    features, state = encoder(x, state0, starts)
    loss = (features * torch.randn(features.shape, generator=g, dtype=x.dtype)).sum()
    loss = loss + sum(s.sum() for s in state)
    grads = torch.autograd.grad(loss, [x, *state0, *encoder.parameters()])
    return [features, *state, *grads]


# each fused encoder path: a builder, and whether the path is for resets after step 0
FUSED_PATHS: dict[str, tuple[Callable[[], StateEncoder], bool]] = {
    "elman-tanh": (lambda: ElmanEncoder(F, 5, activation="tanh"), False),
    "elman-relu": (lambda: ElmanEncoder(F, 5, activation="relu"), False),
    "lstm-saturate": (lambda: LSTMEncoder(F, 4, num_layers=2, reset_mode="saturate"), True),
}


@pytest.mark.parametrize("name", FUSED_PATHS)
@pytest.mark.parametrize(("dtype", "tolerance"), DTYPES)
def test_encoder_fallback_equals_fast_path(
    monkeypatch: pytest.MonkeyPatch, name: str, dtype: torch.dtype, tolerance: dict
) -> None:
    build, resets = FUSED_PATHS[name]
    torch.manual_seed(0)
    encoder = build().to(dtype)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, F, generator=g, dtype=dtype)
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0, 0] = True
    if resets:
        starts[3, 1] = starts[4, 1] = starts[-1, 2] = True
    counters = count_private_calls(monkeypatch)
    results = []
    for fast in (True, False):
        use_fast_paths(monkeypatch, fast)
        assert all(ATEN_RNN[kind]() is fast for kind in KINDS)  # probed before counting
        before = sum(c.calls for c in counters.values())
        results.append(encoder_results(encoder, x, starts))
        assert (sum(c.calls for c in counters.values()) > before) is fast
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **tolerance)


def remove_private_rnn_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a torch release without ATen's RNN ops (or with other signatures) would be."""
    monkeypatch.setattr(torch.ops.aten, "rnn_tanh", object())
    monkeypatch.setattr(torch.ops.aten, "rnn_relu", object())
    monkeypatch.delattr(torch, "lstm")


@pytest.mark.parametrize("name", FUSED_PATHS)
def test_missing_rnn_ops_cost_speed_not_results(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """With the ops gone the fallback runs, with a warning, and equals the step loop."""
    build, resets = FUSED_PATHS[name]
    torch.manual_seed(0)
    encoder = build().double()
    x = torch.randn(T, B, F, dtype=torch.float64)
    starts = torch.zeros(T, B, dtype=torch.bool)
    if resets:
        starts[3, 1] = True
    use_fast_paths(monkeypatch, True)
    remove_private_rnn_ops(monkeypatch)
    with pytest.warns(RuntimeWarning, match=r"torch\.ops\.aten\..* raised .*public-API fallback"):
        fallback = encoder_results(encoder, x, starts)
    # the reference: one step at a time, which uses none of the fast paths
    if isinstance(encoder, ElmanEncoder):
        encoder.fused = False
    else:
        encoder.reset_mode = "loop"
    for a, b in zip(fallback, encoder_results(encoder, x, starts), strict=True):
        torch.testing.assert_close(a, b, **FLOAT64)


@pytest.mark.parametrize("context", [torch.enable_grad, torch.no_grad, torch.inference_mode])
def test_private_apis_present_are_accepted(
    monkeypatch: pytest.MonkeyPatch, context: Callable[[], Any]
) -> None:
    """Where this torch has the private APIs, the probes accept them, also at a first use
    while acting (a probe that rejects a working API would cost speed silently)."""
    use_fast_paths(monkeypatch, True)
    assert hasattr(torch.ops.aten, "rnn_tanh") and hasattr(torch, "lstm")
    with context():
        assert all(ATEN_RNN[kind]() for kind in KINDS)
        assert TENSOR_VERSION()
        assert DIRECT_FUSED_ADAM()


@pytest.mark.parametrize("fast", [True, False])
def test_write_watch_sees_writes(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    """In-place writes, writes through a view and ``load_state_dict`` are all seen."""
    use_fast_paths(monkeypatch, fast)
    assert TENSOR_VERSION() is fast
    watch, tensors = WriteWatch(), [torch.zeros(5), torch.arange(3)]
    assert not watch.unchanged(tensors)
    watch.remember(tensors)
    assert watch.unchanged(tensors)
    tensors[0][2:].add_(1)
    assert not watch.unchanged(tensors)
    watch.remember(tensors)
    tensors[1].copy_(torch.arange(3))  # a write of the same values: unchanged in content
    assert watch.unchanged(tensors) is not fast  # versions count writes, copies compare values
    module = torch.nn.Linear(2, 2)
    watch.remember(list(module.parameters()))
    module.load_state_dict(torch.nn.Linear(2, 2).state_dict())
    assert not watch.unchanged(list(module.parameters()))


def test_write_watch_asks_again_after_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """What one path remembered is no reference for the other (benchmarks switch)."""
    watch, tensors = WriteWatch(), [torch.zeros(3)]
    for fast in (True, False, True):
        use_fast_paths(monkeypatch, fast)
        assert not watch.unchanged(tensors)
        watch.remember(tensors)
        assert watch.unchanged(tensors)


@pytest.mark.parametrize("fast", [True, False])
def test_esn_kernel_cache_follows_weight_writes(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """The one-sequence compiled path caches W's CSR parts: after an in-place write to W
    its states still equal the batched torch path's."""
    use_fast_paths(monkeypatch, fast)
    encoder = EchoStateEncoder(F, 50, seed=2, dtype=torch.float64)
    x = torch.randn(T, 1, F, dtype=torch.float64)
    starts = torch.zeros(T, 1, dtype=torch.bool)

    def compiled_equals_batched() -> None:
        single, _ = encoder(x, encoder.initial_state(1), starts)
        batched, _ = encoder(x.expand(T, 2, F), encoder.initial_state(2), starts.expand(T, 2))
        torch.testing.assert_close(single[:, 0], batched[:, 0], **FLOAT64)

    compiled_equals_batched()
    with torch.no_grad():
        encoder.w_values.mul_(1.5)
    compiled_equals_batched()
    encoder.load_state_dict(EchoStateEncoder(F, 50, seed=3, dtype=torch.float64).state_dict())
    compiled_equals_batched()


def test_missing_tensor_version_costs_speed_not_results(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(self: torch.Tensor) -> int:
        raise AttributeError("_version")

    use_fast_paths(monkeypatch, True)
    monkeypatch.setattr(torch.Tensor, "_version", property(gone), raising=False)
    with pytest.warns(RuntimeWarning, match=r"torch\.Tensor\._version raised AttributeError"):
        assert not TENSOR_VERSION()
    test_esn_kernel_cache_follows_weight_writes(monkeypatch, fast=False)


def test_no_private_api_needed_to_import_or_run() -> None:
    """A fresh interpreter whose torch lacks every private API the library uses imports the
    library and gets the reference results (the fast paths are probed at first use only).
    The fused Adam kernel is hidden from our optimiser only: ``torch.optim.Adam`` uses it."""
    script = textwrap.dedent(
        """
        import warnings
        import torch
        import torch._dynamo  # torch's own modules, loaded before the ops go: they use them
        torch.set_num_threads(1)
        torch.ops.aten.rnn_tanh = torch.ops.aten.rnn_relu = object()
        del torch.lstm
        torch.Tensor._version = property(lambda self: (_ for _ in ()).throw(AttributeError()))
        warnings.simplefilter("ignore", RuntimeWarning)
        from stateful_rl.encoders import EchoStateEncoder, ElmanEncoder, LSTMEncoder
        from stateful_rl.agents import optim
        from stateful_rl.agents.optim import ClippedAdam

        class TorchWithoutKernel:  # torch.optim.Adam itself needs the kernel: hide it from us
            def __getattr__(self, name):
                if name in ("_fused_adam_", "_foreach_norm", "_foreach_div_"):
                    raise AttributeError(name)
                return getattr(torch, name)

        optim.torch = TorchWithoutKernel()
        x, no_reset = torch.randn(6, 2, 3), torch.zeros(6, 2, dtype=torch.bool)
        reset = no_reset.clone()
        reset[2, 0] = True
        for encoder, attribute, fast, slow, starts in (
            (ElmanEncoder(3, 4), "fused", True, False, no_reset),
            (LSTMEncoder(3, 4), "reset_mode", "saturate", "loop", reset),
        ):
            outputs = []
            for mode in (fast, slow):
                setattr(encoder, attribute, mode)
                outputs.append(encoder(x, encoder.initial_state(2), starts)[0])
            torch.testing.assert_close(*outputs)
        esn = EchoStateEncoder(3, 20)
        single = esn(x[:, :1], esn.initial_state(1), no_reset[:, :1])[0]
        torch.testing.assert_close(single[:, 0], esn(x, esn.initial_state(2), no_reset)[0][:, 0])
        nets = [torch.nn.Linear(3, 1) for _ in range(2)]
        nets[1].load_state_dict(nets[0].state_dict())
        ours = ClippedAdam(nets[0].parameters(), lr=0.1, max_norm=1.0)
        reference = torch.optim.Adam(nets[1].parameters(), lr=0.1)
        for _ in range(3):
            for net in nets:
                net.zero_grad()
                net(x).square().sum().backward()
            ours.clip_and_step()
            torch.nn.utils.clip_grad_norm_(nets[1].parameters(), 1.0)
            reference.step()
        torch.testing.assert_close(nets[0].weight, nets[1].weight)
        print("ok")
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop(FORCE_FALLBACK_VARIABLE, None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
