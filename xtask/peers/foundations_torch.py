"""PyTorch peer of benches/benches/foundations.rs, for `cargo xtask bench --peers`.

Times one training step (forward, cross-entropy, backward, Adam update) of the same MLPs on one thread
and prints one JSON object: {"benchmarks": {criterion id: median ns}, "torch": version, "threads": 1}.
Arguments: the criterion ids to time (all of them when none are given).
Same shapes and data as the Rust bench: x[i] = sin(0.731 * i) laid out (batch, inputs), y[i] = i % 10,
f32, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8); with `_bn`, Linear without bias > BatchNorm1d > ReLU.
"""
import json, math, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    "mlp_train_step/digits_64-128-64-10_b64": (64, [128, 64], 64, False),
    "mlp_train_step/digits_64-128-64-10_b64_bn": (64, [128, 64], 64, True),
    "mlp_train_step/mnist_784-256-128-10_b128": (784, [256, 128], 128, False),
}


def mlp(inputs, hidden, bn):
    layers, width = [], inputs
    for units in hidden:
        layers.append(nn.Linear(width, units, bias=not bn))
        if bn:
            layers.append(nn.BatchNorm1d(units))
        layers.append(nn.ReLU())
        width = units
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def median_ns(inputs, hidden, batch, bn, budget_s=1.5):
    torch.manual_seed(0)
    net = mlp(inputs, hidden, bn)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    x = torch.sin(torch.arange(batch * inputs, dtype=torch.float64) * 0.731).float().reshape(batch, inputs)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(20):
        step()
    times, start = [], time.perf_counter()
    while len(times) < 30 or (time.perf_counter() - start < budget_s and len(times) < 2000):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e9


def main():
    torch.set_num_threads(1)
    wanted = sys.argv[1:] or list(SHAPES)
    unknown = [w for w in wanted if w not in SHAPES]
    if unknown:
        sys.exit(f"unknown benchmark ids: {unknown}; known: {list(SHAPES)}")
    out = {w: median_ns(*SHAPES[w]) for w in wanted}
    assert all(math.isfinite(v) and v > 0 for v in out.values())
    print(json.dumps({"benchmarks": out, "peer": f"torch {torch.__version__}", "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
