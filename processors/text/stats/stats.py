"""Pure text statistics: words, sentences, vocabulary, a Flesch reading-ease score."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9']+")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """A rough English syllable count (vowel groups, silent trailing 'e'), at least 1."""
    lowered = word.lower()
    count = len(_VOWEL_GROUPS.findall(lowered))
    if lowered.endswith("e") and count > 1 and not lowered.endswith("le"):
        count -= 1
    return max(count, 1)


def compute_stats(text: str, top_n: int = 5) -> dict[str, Any]:
    """Deterministic statistics of ``text`` (ties in top words break alphabetically)."""
    words = [w.lower() for w in _WORD.findall(text)]
    sentences = max(len(_SENTENCE_END.findall(text)), 1 if words else 0)
    counts = Counter(words)
    total_syllables = sum(syllables(w) for w in words)
    flesch = 0.0
    if words and sentences:
        flesch = 206.835 - 1.015 * (len(words) / sentences) - 84.6 * (total_syllables / len(words))
    return {
        "characters": len(text),
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "words": len(words),
        "unique_words": len(counts),
        "sentences": sentences,
        "avg_word_length": round(sum(map(len, words)) / len(words), 3) if words else 0.0,
        "flesch_reading_ease": round(flesch, 2),
        "top_words": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n],
    }
