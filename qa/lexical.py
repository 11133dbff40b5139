"""BM25 over chunk text plus its page and section heading (bm25s: sparse, eager scoring)."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from qa.types import Chunk, Hit

# A short list: function words only. A stop word written in capitals inside ordinary text is an acronym and is
# kept ("ALL" is a leukemia, "IT" a therapy), so ALL and AML stay apart in any corpus.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves im ive
    dont doesnt isnt arent cant wont shall may might must also get gets got please thanks thank hi hello
    tell know want wondering question""".split()
)
_TOKEN = re.compile(r"[A-Za-z0-9]+")
# International nonproprietary name endings (and a few classic ones): a word ending like this names a medicine
DRUG_LIKE = re.compile(r"(mab|nib|cel|rubicin|mycin|sone|xate|(?<!l)ine|ase|mide|purine|platin|tide|stat|vir|"
                       r"parin|olol|pril|sartan|azole|cillin|lisib|ciclib|degib|zomib)$")


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-case word tokens, stop words removed (unless written as an acronym), not stemmed."""
    tokens = _TOKEN.findall(text)
    letters = list(filter(str.isalpha, text))  # map/filter, not generators: every passage goes through here
    shouting = sum(map(str.isupper, letters)) > len(letters) / 2  # "WHAT IS ALL" has no acronyms to trust
    return [low for t in tokens
            if (low := t.lower()) not in STOPWORDS or (not shouting and len(t) > 1 and t.isupper())]


def tokenize(text: str) -> list[str]:
    """Stemmed content-word tokens: what BM25 indexes and queries."""
    return _stemmer().stemWords(words(text))


class Bm25:
    """BM25 (Lucene variant, k1=1.2, b=0.75: the usual defaults) over a fixed list of chunks."""

    def __init__(self, chunks: list[Chunk], k1: float = 1.2, b: float = 0.75) -> None:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.ERROR)  # it logs every index build
        self.chunks = chunks
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        # one string object per distinct stem: 100k passages of ~70 stems each are ~7M references, not ~7M strings
        stems: dict[str, str] = {}
        corpus_tokens = [[stems.setdefault(t, t) for t in tokenize(c.search_text)] or ["_empty_"] for c in chunks]
        self.document_frequency: Counter[str] = Counter(t for tokens in corpus_tokens for t in set(tokens))
        if chunks:
            self._bm25.index(corpus_tokens, show_progress=False)

    def idf(self, stem: str) -> float:
        """log((N + 1) / (df + 1)) + 1: how rare a stem is here (an unknown stem gets the highest value)."""
        return math.log((len(self.chunks) + 1) / (self.document_frequency.get(stem, 0) + 1)) + 1.0

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (zeros when no query word is in the corpus)."""
        tokens = [t for t in tokenize(query) if t in self._bm25.vocab_dict] if self.chunks else []
        if not tokens:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int) -> list[Hit]:
        """Top k chunks with a positive score, best first."""
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunks[i], float(scores[i]), "lexical") for i in order if scores[i] > 0]
