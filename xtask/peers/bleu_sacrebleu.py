"""sacrebleu's corpus BLEU on the benchmark's synthetic corpus, for `cargo xtask bench --peers`.

Usage: bleu_sacrebleu.py CORPUS_DIR ID...   (CORPUS_DIR holds hyp.txt and ref.txt, one sentence a
line, written by `cargo run --release -p dls-nlp --example bleu -- --write-synthetic DIR`).
Prints {"benchmarks": {id: median_ns}, "peer": "sacrebleu X", "threads": 1}.
"""
import json
import sys
import time

import sacrebleu

KNOWN = {"bleu/corpus_10k"}


def main():
    corpus, wanted = sys.argv[1], sys.argv[2:] or sorted(KNOWN)
    unknown = [w for w in wanted if w not in KNOWN]
    if unknown:
        sys.exit(f"unknown benchmark ids: {unknown}; known: {sorted(KNOWN)}")
    with open(f"{corpus}/hyp.txt", encoding="utf-8") as f:
        hyps = f.read().split("\n")[:-1]
    with open(f"{corpus}/ref.txt", encoding="utf-8") as f:
        refs = f.read().split("\n")[:-1]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        sacrebleu.corpus_bleu(hyps, [refs])
        times.append(time.perf_counter() - start)
    times.sort()
    ns = times[len(times) // 2] * 1e9
    print(json.dumps({"benchmarks": {w: ns for w in wanted}, "peer": f"sacrebleu {sacrebleu.__version__}", "threads": 1}))


if __name__ == "__main__":
    main()
