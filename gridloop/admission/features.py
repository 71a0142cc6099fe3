"""Turning a report into sparse features: character n-grams, jieba words and keyword-lexicon hits."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping

import jieba

from gridloop.admission.lexicon import KEYWORDS

_NOT_TEXT = re.compile(r"[^\w]+")
_DIGITS = re.compile(r"\d+")
# Addresses say where, never what: mask them so the model cannot lean on them.
_ADDRESS = re.compile(
    r"(金牛区)?([\u4e00-\u9fff]{2,6}街道)?([\u4e00-\u9fff]{2,8}(社区|路|街|大道|线)[一二三四五六七八九十]?段?)"
    r"?\s*(\d+(-\d+){1,2}|\d+(栋|幢|号院|号)(\d+单元)?)"
)
CHAR_NGRAMS = (1, 2, 3)


def normalize(text: str) -> str:
    """NFKC, lower case, digits collapsed (addresses and phone numbers carry no signal), punctuation dropped."""
    text = _ADDRESS.sub(" 地址 ", unicodedata.normalize("NFKC", text).lower())
    return _NOT_TEXT.sub(" ", _DIGITS.sub("0", text)).strip()


class Tokenizer:
    """Produces the raw feature names of one report. jieba is loaded on first use, not at import."""

    def __init__(self, keywords: Mapping[str, Iterable[str]] = KEYWORDS) -> None:
        self.keywords = {code: tuple(words) for code, words in keywords.items()}
        self._pairs = [(word.lower(), code) for code, words in self.keywords.items() for word in words]
        self._by_first: dict[str, list[tuple[str, str]]] = {}
        for word, code in self._pairs:
            self._by_first.setdefault(word[0], []).append((word, code))
        self._jieba: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    def _segmenter(self) -> jieba.Tokenizer:
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    jieba.setLogLevel(logging.WARNING)
                    segmenter = jieba.Tokenizer()
                    segmenter.initialize()
                    for word, _ in self._pairs:
                        segmenter.add_word(word, freq=2000)
                    self._jieba = segmenter
        return self._jieba

    def keyword_hits(self, text: str) -> dict[str, list[str]]:
        """Item code (or NA:<reason>) -> lexicon words found in the (normalised) text."""
        hits: dict[str, list[str]] = {}
        by_first = self._by_first
        for i, ch in enumerate(text):
            for word, code in by_first.get(ch, ()):
                if text.startswith(word, i):
                    found = hits.setdefault(code, [])
                    if word not in found:
                        found.append(word)
        return hits

    def analyse(self, text: str) -> tuple[Counter[str], dict[str, list[str]]]:
        """Raw feature counts and the keyword hits behind the `k:` features."""
        norm = normalize(text)
        counts: Counter[str] = Counter()
        for chunk in norm.split():
            for n in CHAR_NGRAMS:
                counts.update("c:" + chunk[i : i + n] for i in range(len(chunk) - n + 1))
        counts.update("w:" + w for w in self._segmenter().lcut(norm) if w.strip() and len(w) > 1)
        hits = self.keyword_hits(norm)
        counts.update("k:" + code for code in hits)
        return counts, hits

    def features(self, text: str) -> Counter[str]:
        return self.analyse(text)[0]
