"""Memory of the embedding loop, batch after batch, with and without the fixed mmap threshold (qa.embedding).

    python -m bench.heap [BATCHES]          (default 10 batches of 256 passages written from the corpora's sentences)

Each variant runs in a fresh process and prints one JSON line: RSS after each batch. Without the fix, glibc carves
the activations of batches of other shapes from its heap and RSS climbs batch after batch; with it, RSS is flat
(eval/experiments.md, round 9).
"""

from __future__ import annotations

import subprocess
import sys

from bench.process import ROOT

_CHILD = """
import json, random, sys
from bench.large import real_text
from bench.process import proc_memory
import qa.embedding as embedding
if sys.argv[2] == "without":
    embedding.limit_heap_growth = lambda: False
sentences, headings, titles = real_text()
rng = random.Random(0)
model = embedding.SentenceTransformerEmbedder("all-MiniLM-L6-v2")
model.model
rss = []
for b in range(int(sys.argv[1])):
    page = [f"{rng.choice(titles)} > {rng.choice(headings)} {n}" for n in range(256)]
    model.embed([f"{head}\\n" + " ".join(rng.sample(sentences, rng.randint(2, 7))) for head in page])
    rss.append(round(proc_memory()["rss_mb"]))
print(json.dumps({"variant": sys.argv[2], "rss_mb_after_each_batch": rss, "peak_mb": round(proc_memory()["peak_mb"])}))
"""


def main(argv: list[str]) -> None:
    batches = argv[0] if argv else "10"
    for variant in ("without", "with"):
        out = subprocess.run([sys.executable, "-c", _CHILD, batches, variant], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
