"""Would an ensemble train faster with its members' recurrent layers run as ONE wide layer? Forward +
backward of the members one call each (what `LSTMForecaster` does) against one wide LSTM/GRU whose
weights are assembled from the members' at each call, on the same batch, in one process.

Every member reads the same windows, so K members of hidden size H are one layer of hidden size K*H:
PyTorch stacks an LSTM's gates in row blocks `[i, f, g, o]` (a GRU's `[r, z, n]`); in the wide layer
gate block g holds member 0's rows of gate g, then member 1's, ...; the first layer's input weights
are the members' rows (the input is shared), the recurrent weights are block-diagonal (member k's
rows see only member k's hidden units), and so are a later layer's input weights; the biases follow
the same order. Member k's slice of the wide output is its own output, and autograd carries the
gradient back to each member's own parameters (the script prints the largest difference of both).

The network is the default recipe's (`configs/default.yaml`: 5 members, LSTM hidden 16, one layer,
attention head, context 120, 5 features, batch 128) unless overridden; the batch is random windows.
Both contenders end in each member's own attention pooling and linear head, then a squared loss
summed over members, as a training step does. Each repeat times `--steps` forward + backward passes
of one contender, then of the other (the order alternates between repeats), so a noisy machine slows
both alike; the script prints the median milliseconds per step of each with the spread, and the ratio
loop / wide measured in the same run.

Examples (from the repository root):

    python benchmarks/ensemble_forward.py --json benchmarks/results/ensemble_forward.json
    python benchmarks/ensemble_forward.py --cell gru --json benchmarks/results/ensemble_forward-gru.json
    python benchmarks/ensemble_forward.py --onednn off --json benchmarks/results/ensemble_forward-no-onednn.json
    python benchmarks/ensemble_forward.py --layers 2 --threads 2 --repeats 9

`--onednn off` disables PyTorch's oneDNN (mkldnn) backend, which otherwise runs a CPU LSTM layer as one
fused primitive per call (`aten::mkldnn_rnn_layer`, forward and backward); a GRU never uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import common
import torch
from torch import nn

from lstm_forecaster.modeling import LSTMForecaster
from lstm_forecaster.training import load_recipe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GATES = {nn.LSTM: 4, nn.GRU: 3}


def gate_rows(weights: list[torch.Tensor], gates: int) -> torch.Tensor:
    """(gates*H, ...) member tensors -> (gates*K*H, ...): gate by gate, member by member."""
    stacked = torch.stack(weights)  # K, gates*H, ...
    k, rows = stacked.shape[:2]
    per_gate = stacked.reshape(k, gates, rows // gates, *stacked.shape[2:]).transpose(0, 1)
    return per_gate.reshape(k * rows, *stacked.shape[2:])


def block_diagonal(weights: list[torch.Tensor], gates: int) -> torch.Tensor:
    """(gates*H, In) member matrices -> (gates*K*H, K*In): member k's rows see only its own columns."""
    stacked = torch.stack(weights)  # K, gates*H, In
    k, rows, columns = stacked.shape
    per_gate = stacked.reshape(k, gates, rows // gates, columns).transpose(0, 1)  # gates, K, H, In
    eye = torch.eye(k, dtype=stacked.dtype, device=stacked.device).reshape(1, k, 1, k, 1)
    return (per_gate.unsqueeze(3) * eye).reshape(k * rows, k * columns)


def wide_weights(layers: Sequence[nn.Module], shared_input: bool) -> list[torch.Tensor]:
    """The flat weights (`torch.lstm`/`torch.gru` order) of the wide layer over one depth of `layers`."""
    gates = GATES[type(layers[0])]
    flat = []
    for suffix in ("_l0", "_l0_reverse")[: 2 if layers[0].bidirectional else 1]:
        inputs = [getattr(layer, "weight_ih" + suffix) for layer in layers]
        flat += [
            gate_rows(inputs, gates) if shared_input else block_diagonal(inputs, gates),
            block_diagonal([getattr(layer, "weight_hh" + suffix) for layer in layers], gates),
            gate_rows([getattr(layer, "bias_ih" + suffix) for layer in layers], gates),
            gate_rows([getattr(layer, "bias_hh" + suffix) for layer in layers], gates),
        ]
    return flat


def wide_outputs(model: LSTMForecaster, x: torch.Tensor) -> list[torch.Tensor]:
    """Each member's last-layer outputs (batch, steps, directions*hidden), from one wide stack."""
    k = len(model.members)
    hidden = x
    for depth, layers in enumerate(zip(*(member.rnn for member in model.members), strict=True)):
        if depth:
            hidden = model.members[0].dropout(hidden)
        first = layers[0]
        directions, size = (2 if first.bidirectional else 1), first.hidden_size
        zeros = hidden.new_zeros(directions, hidden.shape[0], k * size)
        weights = wide_weights(layers, shared_input=depth == 0)
        bidirectional = directions == 2
        if isinstance(first, nn.LSTM):
            out = torch.lstm(hidden, (zeros, zeros), weights, True, 1, 0.0, first.training, bidirectional, True)[0]
        else:
            out = torch.gru(hidden, zeros, weights, True, 1, 0.0, first.training, bidirectional, True)[0]
        # direction-major -> member-major: member k's outputs are then columns k*directions*size..
        batch, steps = out.shape[:2]
        hidden = out.reshape(batch, steps, directions, k, size).transpose(2, 3).reshape(batch, steps, -1)
    return list(hidden.chunk(k, dim=-1))


def loop_outputs(model: LSTMForecaster, x: torch.Tensor) -> list[torch.Tensor]:
    """Each member's last-layer outputs from its own layers, one member after the other."""
    outputs = []
    for member in model.members:
        hidden = x
        for depth, layer in enumerate(member.rnn):
            hidden = layer(member.dropout(hidden) if depth else hidden)[0]
        outputs.append(hidden)
    return outputs


def heads(model: LSTMForecaster, outputs: list[torch.Tensor]) -> torch.Tensor:
    """(members, batch, horizon * outputs): each member's own pooling (attention or last step) and head."""
    pooled = [m.pool(h) if m.pool is not None else h[:, -1] for m, h in zip(model.members, outputs, strict=True)]
    return torch.stack([m.head(p) for m, p in zip(model.members, pooled, strict=True)])


def step(model: LSTMForecaster, outputs, x: torch.Tensor) -> torch.Tensor:
    """One forward + backward, each member's loss summed as training sums them; the forward's result."""
    model.zero_grad(set_to_none=True)
    out = heads(model, outputs(model, x))
    out.square().mean(dim=(1, 2)).sum().backward()
    return out.detach()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--cell", choices=["lstm", "gru"], help="override the recipe's cell")
    parser.add_argument("--layers", type=int, help="override the recipe's num_layers")
    parser.add_argument("--batch", type=int, help="override the recipe's batch_size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="forward + backward passes per repeat")
    parser.add_argument("--onednn", choices=["on", "off"], default="on", help="PyTorch's oneDNN CPU backend")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")  # set by `flags`, CPU unaffected
    with torch.backends.mkldnn.flags(enabled=args.onednn == "on"):
        return measure(args, parser)


def measure(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Check that both contenders agree, time them interleaved, print and write the figures."""

    recipe = load_recipe(args.config)
    overrides = {"cell": args.cell, "num_layers": args.layers}
    config = dataclasses.replace(recipe.model, **{k: v for k, v in overrides.items() if v is not None})
    if config.ensemble < 2:
        parser.error(f"{args.config} is not an ensemble (model.ensemble is {config.ensemble})")
    batch = args.batch or recipe.batch_size
    torch.manual_seed(0)
    model = LSTMForecaster(config).eval()  # eval: no dropout, so both paths compute the same function
    x = torch.randn(batch, config.context_length, len(config.features))

    contenders = {"loop": loop_outputs, "wide": wide_outputs}
    results = {}
    for name, outputs in contenders.items():
        out = step(model, outputs, x)
        results[name] = (out, [p.grad.clone() for p in model.parameters()])
    max_out = (results["loop"][0] - results["wide"][0]).abs().max().item()
    pairs = zip(results["loop"][1], results["wide"][1], strict=True)
    max_grad = max((a - b).abs().max().item() for a, b in pairs)

    ms: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name in list(contenders) if repeat % 2 == 0 else list(reversed(contenders)):
            start = time.perf_counter()
            for _ in range(args.steps):
                step(model, contenders[name], x)
            ms[name].append((time.perf_counter() - start) / args.steps * 1000)
    median = {name: statistics.median(values) for name, values in ms.items()}
    ratio = median["loop"] / median["wide"]
    result = {
        "command": command_line(),
        "machine": machine(),
        "onednn": args.onednn == "on" and torch.backends.mkldnn.is_available(),
        "network": common.network_record(config, batch),
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "ms_per_step": ms,
        "median_ms_per_step": median,
        "ratio_loop_over_wide": ratio,
        "max_abs_output_difference": max_out,
        "max_abs_gradient_difference": max_grad,
    }
    for name in contenders:
        print(
            f"{name:5s} median {median[name]:7.2f} ms per forward+backward "
            f"[{min(ms[name]):.2f}-{max(ms[name]):.2f}] over {args.repeats} repeats of {args.steps}"
        )
    print(f"loop / wide: {ratio:.2f}x; max |difference|: outputs {max_out:.2e}, gradients {max_grad:.2e}")
    if args.json:
        common.write_json(Path(args.json), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
