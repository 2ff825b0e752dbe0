"""Tools from typed functions: schema, description, validation, binding, sync/async execution."""

from __future__ import annotations

import json
import threading
from typing import Any, Literal

import anyio
import pydantic
import pytest

from orchestra import Tool, ToolError, UsageError, tool


class Point(pydantic.BaseModel):
    x: int
    y: int


@tool
def search(query: str, k: int = 5, mode: Literal["fast", "deep"] = "fast") -> list[str]:
    """Search the local corpus.

    Returns the best hits first.

    Args:
        query: what to look for,
            in plain words.
        k (int): how many hits to return.

    Returns:
        The hits.
    """
    return [f"{query}#{i}" for i in range(k)]


@tool(name="dist", timeout=2.5, retries=2, concurrency=3, side_effects=True, description="Distance.")
async def distance(a: Point, b: Point) -> float:
    return ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5


def test_bare_decorator_builds_name_description_and_schema() -> None:
    assert isinstance(search, Tool)
    assert search.name == "search"
    assert search.description == "Search the local corpus."
    params = search.parameters
    assert params["type"] == "object"
    assert params["required"] == ["query"]
    assert list(params["properties"]) == ["query", "k", "mode"]
    assert params["properties"]["query"] == {
        "type": "string",
        "description": "what to look for, in plain words.",
    }
    assert params["properties"]["k"]["default"] == 5
    assert params["properties"]["k"]["description"] == "how many hits to return."
    assert params["properties"]["mode"]["enum"] == ["fast", "deep"]
    assert params["additionalProperties"] is False
    assert (search.timeout, search.retries, search.concurrency, search.side_effects) == (None, 0, None, False)


def test_decorator_options_and_nested_model_schema() -> None:
    assert distance.name == "dist"
    assert distance.description == "Distance."
    assert (distance.timeout, distance.retries, distance.concurrency, distance.side_effects) == (
        2.5,
        2,
        3,
        True,
    )
    assert distance.is_async
    assert set(distance.parameters["required"]) == {"a", "b"}
    # The nested model is described inline: a schema we send must be self-contained (no $defs/$ref).
    assert "$ref" not in json.dumps(distance.parameters) and "$defs" not in distance.parameters
    assert distance.parameters["properties"]["a"]["properties"]["x"] == {"type": "integer"}


def test_spec_is_an_openai_tools_entry() -> None:
    spec = search.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "search"
    assert spec["function"]["description"] == "Search the local corpus."
    assert spec["function"]["parameters"] is search.parameters


def test_signature_line_for_text_prompts() -> None:
    assert search.signature() == 'search(query: string, k: integer = 5, mode: "fast"|"deep" = "fast")'


async def test_call_validates_and_coerces() -> None:
    assert await search.call({"query": "ants", "k": "2"}) == ["ants#0", "ants#1"]
    assert await distance.call({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": "4"}}) == 5.0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"k": 2}, "missing required argument 'query'"),
        ({"query": "x", "limit": 3}, "unexpected argument 'limit'"),
        ({"query": "x", "k": "many"}, "argument 'k': Input should be a valid integer"),
        ({"query": "x", "mode": "slow"}, "argument 'mode'"),
    ],
)
async def test_bad_arguments_raise_a_precise_tool_error(args: dict[str, Any], expected: str) -> None:
    with pytest.raises(ToolError) as info:
        await search.call(args)
    assert expected in str(info.value)
    assert info.value.tool == "search"


async def test_nested_model_error_names_the_field_path() -> None:
    with pytest.raises(ToolError, match=r"argument \"b\['y'\]\"|argument 'b\['y'\]'"):
        await distance.call({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": "four"}})


async def test_sync_tool_runs_in_a_worker_thread_and_async_in_the_loop() -> None:
    loop_thread = threading.get_ident()

    @tool
    def where_sync() -> int:
        """Report the thread."""
        return threading.get_ident()

    @tool
    async def where_async() -> int:
        """Report the thread."""
        return threading.get_ident()

    assert await where_sync.call({}) != loop_thread
    assert await where_async.call({}) == loop_thread


async def test_sync_tool_does_not_block_the_event_loop() -> None:
    import time

    @tool
    def slow() -> str:
        """Block the calling thread for 50 ms."""
        time.sleep(0.05)
        return "done"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(100):
            await anyio.sleep(0.002)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        assert await slow.call({}) == "done"
        progressed = ticks
        tg.cancel_scope.cancel()
    assert progressed >= 3  # the loop kept running while the thread slept


def test_bind_maps_positional_arguments_like_python() -> None:
    assert search.bind(["ants"], {"k": 3}) == {"query": "ants", "k": 3}
    assert search.bind([], {"query": "x"}) == {"query": "x"}
    with pytest.raises(
        ToolError, match=r"takes at most 3 positional argument\(s\) \(query, k, mode\), got 4"
    ):
        search.bind(["a", 1, "fast", "extra"], {})
    with pytest.raises(ToolError, match="multiple values for argument 'query'"):
        search.bind(["a"], {"query": "b"})


def test_check_skips_values_not_known_yet() -> None:
    search.check({"query": "anything", "k": object()}, unresolved=["k"])  # k will come from a reference
    with pytest.raises(ToolError) as info:
        search.check({"k": "lots", "mode": "fast", "zzz": 1})
    text = str(info.value)
    assert "missing required argument 'query'" in text
    assert "unexpected argument 'zzz'" in text
    assert "argument 'k'" in text


async def test_from_schema_checks_required_keys_types_and_extras_lightly() -> None:
    seen: list[dict[str, Any]] = []

    async def remote(args: dict[str, Any]) -> str:
        seen.append(args)
        return "ok"

    schema = {
        "type": "object",
        "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}},
        "required": ["path"],
        "additionalProperties": False,
    }
    adapted = Tool.from_schema("mcp_list", "List a directory.", schema, remote, unpack=False)
    assert adapted.side_effects  # a foreign tool is assumed to have effects
    assert await adapted.call({"path": "/tmp", "depth": 2}) == "ok"
    assert seen == [{"path": "/tmp", "depth": 2}]
    for bad, message in [
        ({"depth": 1}, "missing required argument 'path'"),
        ({"path": "/", "depth": "2"}, "argument 'depth': expected integer, got str"),
        ({"path": "/", "depth": True}, "expected integer, got bool"),
        ({"path": "/", "color": "red"}, "unexpected argument 'color'"),
    ]:
        with pytest.raises(ToolError, match=message):
            await adapted.call(bad)
    assert adapted.spec()["function"]["parameters"]["required"] == ["path"]


async def test_from_schema_with_keyword_function_and_open_schema() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    adapted = Tool.from_schema("add", "Add.", {"properties": {"a": {"type": "integer"}}}, add)
    assert adapted.parameters["type"] == "object"
    assert await adapted.call({"a": 1, "b": 2}) == 3  # extra keys allowed: the schema does not close it


def test_with_options_copies() -> None:
    slower = search.with_options(timeout=9.0, retries=1)
    assert (slower.timeout, slower.retries) == (9.0, 1)
    assert search.timeout is None
    assert slower.parameters == search.parameters


def test_decorated_function_stays_callable() -> None:
    assert search("x", k=1) == ["x#0"]


def test_parameter_names_that_clash_with_pydantic_work() -> None:
    @tool
    def weird(schema: str, model_config: int = 0) -> str:
        """Echo."""
        return f"{schema}{model_config}"

    assert list(weird.parameters["properties"]) == ["schema", "model_config"]
    assert anyio.run(weird.call, {"schema": "s", "model_config": "1"}) == "s1"


def test_kwargs_functions_accept_extra_arguments() -> None:
    @tool
    def collect(a: int, **rest: Any) -> dict[str, Any]:
        """Collect."""
        return {"a": a, **rest}

    assert anyio.run(collect.call, {"a": "1", "b": 2}) == {"a": 1, "b": 2}


def _noop() -> None:
    """Do nothing."""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: tool(name="bad name")(_noop), "must match"),
        (lambda: tool(timeout=0)(_noop), "timeout must be positive"),
        (lambda: tool(retries=-1)(_noop), "retries must be >= 0"),
        (lambda: tool(concurrency=0)(_noop), "concurrency must be >= 1"),
        (lambda: tool(name="join")(_noop), "'join' is reserved"),
    ],
)
def test_invalid_options_are_usage_errors(make: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()


def test_var_positional_is_refused() -> None:
    def spread(*items: int) -> int:
        return sum(items)

    with pytest.raises(UsageError, match=r"\*items is not supported"):
        tool(spread)


class Opaque:
    """A type pydantic cannot describe."""


def test_parameter_types_without_a_json_schema_are_refused() -> None:
    def use(thing: Opaque) -> None:
        """Use it."""

    with pytest.raises(UsageError, match="parameters cannot be described as JSON schema"):
        tool(use)


async def test_async_callable_objects_and_partials_are_awaited_in_the_loop() -> None:
    import functools

    class Counter:
        async def __call__(self, step: int) -> int:
            return threading.get_ident() + 0 * step

    async def scaled(x: int, factor: int) -> int:
        return x * factor

    counter = Tool.from_schema("count", "Count.", {"properties": {"step": {"type": "integer"}}}, Counter())
    assert counter.is_async
    assert await counter.call({"step": 1}) == threading.get_ident()
    triple = Tool.from_schema(
        "triple", "Triple.", {"properties": {"x": {"type": "integer"}}}, functools.partial(scaled, factor=3)
    )
    assert triple.is_async
    assert await triple.call({"x": 2}) == 6
