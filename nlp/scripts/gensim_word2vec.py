"""gensim's Word2Vec on a tokenised corpus (one sentence per line), for comparison with
`cargo run --release -p dls-nlp --example word2vec -- --corpus-out FILE`.

usage: python gensim_word2vec.py CORPUS QUESTIONS --sg 0|1 --workers N [--json OUT]
Prints (and writes) analogy_accuracy, analogy_covered, words_per_second (raw words, all epochs) and
seconds, with gensim's defaults otherwise (vector_size 100, window 5, negative 5, min_count 5,
sample 1e-3, epochs 5, alpha 0.025).
"""
import argparse, json, time
from gensim.models import Word2Vec

p = argparse.ArgumentParser()
p.add_argument("corpus"); p.add_argument("questions")
p.add_argument("--sg", type=int, default=0); p.add_argument("--workers", type=int, default=3)
p.add_argument("--seed", type=int, default=1); p.add_argument("--json")
a = p.parse_args()
sentences = [line.split() for line in open(a.corpus, encoding="utf-8")]
raw = sum(len(s) for s in sentences)
model = Word2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, sg=a.sg,
                 workers=a.workers, seed=a.seed, epochs=5)
model.build_vocab(sentences)
t = time.time()
model.train(sentences, total_examples=len(sentences), epochs=5)
secs = time.time() - t
score, sections = model.wv.evaluate_word_analogies(a.questions)
total = next(s for s in sections if s["section"] == "Total accuracy")
covered = len(total["correct"]) + len(total["incorrect"])
n_questions = sum(1 for l in open(a.questions) if not l.startswith(":"))
out = {"analogy_accuracy": score, "analogy_covered": covered / n_questions,
       "analogy_questions": covered, "words_per_second": raw * 5 / secs, "seconds": secs,
       "vocab": len(model.wv)}
print(json.dumps(out, indent=1))
if a.json:
    json.dump(out, open(a.json, "w"), indent=1)
