"""Final answers out of model text, and their normal form for voting.

Self-consistency votes over *normalised* answers (Wang et al.), so ``"7"``, ``"7.0"``, ``" 7 "``
and ``"\\boxed{7}"`` must land in one cluster. Extraction is careful about where the answer sits:
in ``3 + 4 = 7`` the first number is the question, so a number is taken from a ``\\boxed{}``,
then from an "answer is" phrase, then after the last ``=``, and only then the last number in the
text.
"""

from __future__ import annotations

import re

__all__ = ["extract_answer", "extract_number", "normalize_answer"]

_BOXED = re.compile(r"\\boxed\{")
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?(?![\w])")
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer|answer|result|equals|is equal to)\s*(?:is|:|=)?\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, braces balanced; None when there is none."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    start = starts[-1]
    depth, i = 1, start
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start : i - 1] if depth == 0 else text[start:]


def extract_number(text: str) -> str | None:
    """The number a text gives as its answer, normalised; None when it gives none.

    Order: the last ``\\boxed{}``, the number right after the last "answer is" / "equals"
    phrase, the first number after the last ``=``, then the last number in the text.
    """
    boxed = _boxed(text)
    if boxed is not None:
        found = _NUMBER.search(boxed)
        return normalize_answer(found.group()) if found else None
    phrases = list(_ANSWER_IS.finditer(text))
    for phrase in reversed(phrases):
        found = _NUMBER.match(text, phrase.end()) or _NUMBER.match(text.replace("$", " "), phrase.end())
        if found:
            return normalize_answer(found.group())
    if "=" in text:
        found = _NUMBER.search(text, text.rindex("=") + 1)
        if found:
            return normalize_answer(found.group())
    numbers = _NUMBER.findall(text)
    return normalize_answer(numbers[-1]) if numbers else None


def extract_answer(text: str) -> str | None:
    """The final answer of a free-form text: a ``\\boxed{}`` body, else a number, normalised."""
    boxed = _boxed(text)
    if boxed is not None and not _NUMBER.search(boxed):
        return normalize_answer(boxed) or None
    return extract_number(text)


def normalize_answer(answer: str) -> str:
    """The voting key of an answer: trimmed, lower-case, no TeX wrappers; numbers in canonical form.

    ``"7.0"``, ``"7"``, ``"+7"`` and ``"7."`` all become ``"7"``; ``"1,000"`` becomes ``"1000"``;
    ``"−3"`` (a Unicode minus) becomes ``"-3"``.
    """
    text = answer.strip().strip("$").strip()
    inner = _boxed(text)
    if inner is not None:
        text = inner.strip()
    text = text.replace("−", "-").rstrip(".").strip()
    plain = text.replace(",", "")
    try:
        value = float(plain)
    except ValueError:
        return " ".join(text.lower().split())
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
