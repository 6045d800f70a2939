"""PyTorch peer of benches/benches/vision.rs, for `cargo xtask bench --peers`.

Times, on one thread, one SGD training step (forward, cross-entropy, backward, update, lr 0.01) of
LeNet-5 (batch 64, 1x28x28: conv 6@5x5 pad 2, ReLU, 2x2 max pool, conv 16@5x5, ReLU, 2x2 max pool,
120-84-10) and of the CIFAR-style ResNet-18 (batch 32, 3x32x32: 3x3 stem, no pool, basic blocks
[2, 2, 2, 2] with batch norm), and the ImageNet ResNet-18's forward pass at 224x224 in eval mode.
The networks are written out here (torchvision is not needed) with the same layer sizes as ours.
Prints one JSON object: {"benchmarks": {criterion id: median ns}, "peer": version, "threads": 1}.
Arguments: the criterion ids to time (all of them when none are given).
Inputs as in the Rust bench: x[i] = sin(0.731 * i) laid out (batch, c, h, w), y[i] = i % 10, f32.
"""
import json, math, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


class Basic(nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.down = None
        if stride != 1 or inp != out:
            self.down = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


def resnet18(small):
    stem = [nn.Conv2d(3, 64, 3, 1, 1, bias=False)] if small else [nn.Conv2d(3, 64, 7, 2, 3, bias=False)]
    stem += [nn.BatchNorm2d(64), nn.ReLU()]
    if not small:
        stem.append(nn.MaxPool2d(3, 2, 1))
    layers, inp = [], 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for block in range(2):
            layers.append(Basic(inp, width, 2 if stage > 0 and block == 0 else 1))
            inp = width
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10 if small else 1000)]
    return nn.Sequential(*stem, *layers, *head)


def wave(*shape):
    n = math.prod(shape)
    return torch.sin(torch.arange(n, dtype=torch.float64) * 0.731).float().reshape(*shape)


def timed(step, budget_s, min_runs=10, warmup=3):
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 2000):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e9


def train_step(net, x, budget_s):
    y = torch.arange(x.shape[0]) % 10
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    net.train()

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return timed(step, budget_s)


def forward(net, x, budget_s):
    net.eval()

    def step():
        with torch.no_grad():
            net(x)

    return timed(step, budget_s)


BENCHES = {
    "lenet5_train_step/b64_1x28x28": lambda: train_step(lenet(), wave(64, 1, 28, 28), 2.0),
    "resnet18_train_step/cifar_b32_3x32x32": lambda: train_step(resnet18(True), wave(32, 3, 32, 32), 10.0),
    "resnet18_forward/imagenet_224_b1": lambda: forward(resnet18(False), wave(1, 3, 224, 224), 3.0),
    "resnet18_forward/imagenet_224_b8": lambda: forward(resnet18(False), wave(8, 3, 224, 224), 5.0),
}


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    wanted = sys.argv[1:] or list(BENCHES)
    unknown = [w for w in wanted if w not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark ids: {unknown}; known: {list(BENCHES)}")
    out = {w: BENCHES[w]() for w in wanted}
    assert all(math.isfinite(v) and v > 0 for v in out.values())
    print(json.dumps({"benchmarks": out, "peer": f"torch {torch.__version__}", "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
