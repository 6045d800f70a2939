"""PyTorch peer of benches/benches/sequence.rs, for `cargo xtask bench --peers`.

Times, on one thread, one Adam training step (forward, cross-entropy, backward, update, lr 1e-3) of
the character language model of `lstm_train_step`: embedding 64 over a vocabulary of 64, a fused
`nn.LSTM` (hidden 128, batch first), a linear head back to the vocabulary; batch 32, sequence 50.
Prints one JSON object: {"benchmarks": {criterion id: median ns}, "peer": version, "threads": 1}.
Arguments: the criterion ids to time (all of them when none are given).
Inputs as in the Rust bench: ids[i] = (7 i + i // 13) % 64 laid out (batch, 51); x the first 50
columns, y the last 50.
"""
import json, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, EMB, HIDDEN, SEQ, BATCH = 64, 64, 128, 50, 32
ID = "lstm_train_step/vocab64_emb64_h128_seq50_b32"


class CharLm(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x):
        return self.head(self.rnn(self.embed(x))[0])


def timed(step, budget_s, min_runs=10, warmup=3):
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 2000):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e9


def lstm_train_step(budget_s=3.0):
    torch.manual_seed(0)
    ids = torch.tensor([(i * 7 + i // 13) % VOCAB for i in range(BATCH * (SEQ + 1))]).reshape(BATCH, SEQ + 1)
    x, y = ids[:, :SEQ], ids[:, 1:].contiguous()
    net = CharLm()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
        opt.step()

    return timed(step, budget_s)


def main():
    torch.set_num_threads(1)
    wanted = sys.argv[1:] or [ID]
    unknown = [w for w in wanted if w != ID]
    if unknown:
        sys.exit(f"unknown benchmark ids: {unknown}; known: {[ID]}")
    out = {ID: lstm_train_step()}
    print(json.dumps({"benchmarks": out, "peer": f"torch {torch.__version__}", "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
