"""The registry of standard tools and the built-in sample corpus."""

from __future__ import annotations

import pytest

from orchestra import tools
from orchestra._tool import Tool
from orchestra.errors import UsageError
from orchestra.tools import (
    DEFAULT_TOOL_NAMES,
    default_tools,
    get_tools,
    known_tool_names,
    load_corpus,
    sample_corpus_path,
)


def test_default_tools_are_the_safe_standard_set() -> None:
    standard = default_tools()
    assert [t.name for t in standard] == list(DEFAULT_TOOL_NAMES) == ["calculator", "python", "search"]
    assert all(isinstance(t, Tool) for t in standard)
    assert len({t.name for t in standard}) == len(standard)


def test_get_tools_keeps_order_and_drops_duplicates() -> None:
    assert [t.name for t in get_tools(["search", " calculator ", "search"])] == ["search", "calculator"]
    assert get_tools([]) == []


def test_unknown_names_are_a_usage_error_listing_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_tools(["calculator", "web_browser", "http_get"])
    message = str(info.value)
    assert "web_browser" in message and "http_get" in message
    for name in known_tool_names():
        assert name in message


def test_sample_corpus_ships_with_the_package() -> None:
    docs = load_corpus(sample_corpus_path())
    assert 15 <= len(docs) <= 40
    assert len({d.id for d in docs}) == len(docs)
    assert all(d.title and len(d.text) > 40 for d in docs)


async def test_sample_search_answers_factual_lookups() -> None:
    (search,) = get_tools(["search"])
    assert (await search.call({"query": "height of Mount Everest", "k": 1}))[0]["id"] == "everest"
    assert (await search.call({"query": "population of Berlin", "k": 1}))[0]["id"] == "berlin"
    assert (await search.call({"query": "deepest lake", "k": 1}))[0]["id"] == "baikal"


def test_public_api_is_exported() -> None:
    for name in tools.__all__:
        assert hasattr(tools, name), name
