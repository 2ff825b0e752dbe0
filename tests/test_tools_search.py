"""BM25 search: ranking, the formula, corpus loading, and the simulated latency."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import anyio
import pytest

from orchestra.errors import ToolError, UsageError
from orchestra.tools._search import BM25Index, Document, load_corpus, make_search, snippet, tokenize

CORPUS = [
    {
        "id": "everest",
        "title": "Mount Everest",
        "text": "The highest mountain on Earth, 8,849 metres above sea level.",
    },
    {"id": "nile", "title": "Nile", "text": "The Nile is a river in Africa, about 6,650 km long."},
    {"id": "amazon", "title": "Amazon", "text": "The Amazon river carries the most water of any river."},
    {"id": "baikal", "title": "Lake Baikal", "text": "The deepest lake in the world, in Siberia."},
]


def test_tokenize_lowercases_and_splits_on_non_alphanumerics() -> None:
    assert tokenize("Hello, WORLD! It's 8,849m_high café") == [
        "hello",
        "world",
        "it",
        "s",
        "8",
        "849m",
        "high",
        "café",
    ]


def test_bm25_ranks_the_right_document_first() -> None:
    index = BM25Index(load_corpus(CORPUS))
    assert index.search("highest mountain", k=1)[0][0].id == "everest"
    assert index.search("deepest lake Siberia", k=1)[0][0].id == "baikal"
    # "river" is in two documents; the one that says it twice (and is short) wins.
    ranked = [doc.id for doc, _ in index.search("river", k=5)]
    assert ranked == ["amazon", "nile"]
    assert index.search("quantum chromodynamics") == []


def test_bm25_score_matches_the_okapi_formula() -> None:
    index = BM25Index([Document("1", "", "a b"), Document("2", "", "a c c")], k1=1.5, b=0.75)
    # df(c) = 1 of N = 2 documents; doc 2 has tf = 2, length 3; the average length is 2.5.
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    norm = 1 - 0.75 + 0.75 * 3 / 2.5
    expected = idf * 2 * (1.5 + 1) / (2 + 1.5 * norm)
    assert index.scores("c") == {1: pytest.approx(expected)}
    # A term in every document still scores above zero (Lucene's non-negative IDF).
    assert all(score > 0 for score in index.scores("a").values())


def test_ties_keep_corpus_order_and_k_limits() -> None:
    index = BM25Index([Document(str(i), "", "same words here") for i in range(5)])
    assert [doc.id for doc, _ in index.search("words", k=3)] == ["0", "1", "2"]


def test_snippet_is_a_window_around_the_query() -> None:
    text = "filler " * 100 + "the needle is here " + "filler " * 100
    piece = snippet(text, "needle", width=80)
    assert "needle" in piece
    assert piece.startswith("...") and piece.endswith("...")
    assert snippet("short text", "x") == "short text"


def test_jsonl_corpus(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        "\n".join(json.dumps(doc) for doc in CORPUS) + "\n\n" + json.dumps({"text": "no id"}) + "\n"
    )
    docs = load_corpus(path)
    assert [d.id for d in docs] == ["everest", "nile", "amazon", "baikal", "6"]  # id defaults to the line
    assert docs[0] == Document("everest", "Mount Everest", CORPUS[0]["text"])


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"id": 1, "text": "ok"}\nnot json\n', "corpus.jsonl:2: not valid JSON"), ('{"id": 1}\n', "'text'")],
)
def test_bad_jsonl_is_a_usage_error_naming_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        load_corpus(path)
    assert message in str(info.value)


def test_directory_corpus(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "everest.txt").write_text("Mount Everest is the highest mountain.")
    (tmp_path / "sub" / "nile.md").write_text("# The Nile\n\nThe longest river in Africa.")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    docs = load_corpus(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("everest.txt", "everest"), ("sub/nile.md", "The Nile")]
    index = BM25Index(docs)
    assert index.search("longest river", k=1)[0][0].id == "sub/nile.md"


def test_missing_corpus_path() -> None:
    with pytest.raises(UsageError, match="search corpus not found"):
        load_corpus("/nonexistent/corpus")


async def test_search_tool_returns_hits() -> None:
    search = make_search(CORPUS, k=2)
    assert search.name == "search" and search.side_effects is False
    assert search.parameters["properties"]["k"]["default"] == 2
    hits = await search.call({"query": "highest mountain"})
    assert hits[0]["id"] == "everest"
    assert set(hits[0]) == {"id", "title", "snippet", "score"}
    assert "8,849" in hits[0]["snippet"]
    assert len(await search.call({"query": "the", "k": 4})) == 4
    with pytest.raises(ToolError, match="'k'"):
        await search.call({"query": "x", "k": 0})


async def test_latency_is_simulated_without_blocking_the_loop() -> None:
    search = make_search(CORPUS, latency=0.03)
    started = time.perf_counter()
    await search.call({"query": "nile"})
    assert time.perf_counter() - started >= 0.03
    # Five concurrent calls overlap (0.03 s, not 0.15 s): the wait is an async sleep, not a blocking one.
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(search.call, {"query": "nile"})
    assert time.perf_counter() - started < 0.12


def test_bad_factory_options() -> None:
    with pytest.raises(UsageError):
        make_search(CORPUS, latency=-1)
    with pytest.raises(UsageError):
        make_search(CORPUS, k=0)
