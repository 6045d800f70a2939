"""gensim's Word2Vec on the word2vec bench's corpus, for `cargo xtask bench --peers`.

Usage: word2vec_gensim.py CORPUS ID...   (CORPUS: the tokenised Bible excerpt, one verse a line, as
written by `cargo run --release -p dls-nlp --example word2vec -- --corpus-out FILE`).
Times one training epoch with one worker and gensim's defaults (vector_size 100, window 5, negative 5,
min_count 5, sample 1e-3), the settings of benches/benches/word2vec.rs; median of 3 runs.
Prints {"benchmarks": {id: median_ns}, "peer": "gensim X", "threads": 1}.
"""
import json
import sys
import time

import gensim
from gensim.models import Word2Vec

KNOWN = {"word2vec/skipgram_epoch": 1, "word2vec/cbow_epoch": 0}


def main():
    corpus, wanted = sys.argv[1], sys.argv[2:] or sorted(KNOWN)
    unknown = [w for w in wanted if w not in KNOWN]
    if unknown:
        sys.exit(f"unknown benchmark ids: {unknown}; known: {sorted(KNOWN)}")
    with open(corpus, encoding="utf-8") as f:
        sentences = [line.split() for line in f if line.strip()]
    out = {}
    for w in wanted:
        times = []
        for run in range(3):
            model = Word2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                             sg=KNOWN[w], workers=1, seed=1 + run, epochs=1)
            model.build_vocab(sentences)
            start = time.perf_counter()
            model.train(sentences, total_examples=len(sentences), epochs=1)
            times.append(time.perf_counter() - start)
        times.sort()
        out[w] = times[1] * 1e9
    print(json.dumps({"benchmarks": out, "peer": f"gensim {gensim.__version__}", "threads": 1}))


if __name__ == "__main__":
    main()
