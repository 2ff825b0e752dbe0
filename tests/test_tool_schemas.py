"""Tool schemas a model can follow: one tool per Python type, checked in every planner's prompt and schema.

Each planner must show the model the allowed values, defaults, descriptions and nested fields of
every parameter, and every schema it sends must be self-contained (no ``$ref`` pointing outside
it), so that a correct plan validates against it.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

import jsonschema
import pydantic
import pytest

from orchestra import Tool, tool
from orchestra.chat import ChatRequest
from orchestra.planners import JSONPlanner, LLMCompilerPlanner, ParallelPlanner, ReActPlanner
from orchestra.planning import PlanContext


class Geo(pydantic.BaseModel):
    lat: float = pydantic.Field(description="latitude in degrees")
    lon: float = pydantic.Field(description="longitude in degrees")


class Address(pydantic.BaseModel):
    street: str = pydantic.Field(description="street and number")
    city: str
    geo: Geo | None = None


class Unit(enum.Enum):
    METRIC = "metric"
    IMPERIAL = "imperial"


class Tree(pydantic.BaseModel):
    label: str
    children: list[Tree] = []


@tool
def ship(address: Address, express: bool = False) -> str:
    """Ship a parcel.

    Args:
        address: where the parcel goes.
        express: next-day delivery.
    """
    return address.city


@tool
def weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Current weather for a city.

    Parameters
    ----------
    city : str
        the city's name in English
    unit : {"celsius", "fahrenheit"}
        the temperature scale
    """
    return f"{city} {unit}"


@tool
def convert(value: float, to: Unit, digits: int | None = None) -> float:
    """Convert a length.

    :param value: the length to convert
    :param to: the target system of units
    :param digits: decimals to round to, or none
    """
    return value


@tool
def route(stops: list[Address], max_legs: int = 3) -> int:
    """Plan a route through stops.

    Args:
        stops: the places to visit, in order.
        max_legs: most legs of the route.
    """
    return len(stops)


@tool
def outline(tree: Tree) -> str:
    """Print an outline.

    Args:
        tree: the outline's root node.
    """
    return tree.label


TOOLS: list[Tool] = [ship, weather, convert, route, outline]

# What the model must be able to read, per tool: descriptions, allowed values, defaults, nested fields.
MUST_SHOW: dict[str, list[str]] = {
    "ship": ["where the parcel goes", "next-day delivery", "street", "street and number", "latitude"],
    "weather": ["the city's name in English", "the temperature scale", '"celsius"', '"fahrenheit"'],
    "convert": ["the length to convert", "the target system of units", '"metric"', '"imperial"', "decimals"],
    "route": ["the places to visit", "most legs", "street", "3"],
    "outline": ["the outline's root node", "label", "children"],
}

# A correct call of each tool, as a model would write it (JSON arguments).
GOOD_ARGS: dict[str, dict[str, Any]] = {
    "ship": {"address": {"street": "1 Main St", "city": "Rome", "geo": {"lat": 41.9, "lon": 12.5}}},
    "weather": {"city": "Rome", "unit": "fahrenheit"},
    "convert": {"value": 3.5, "to": "imperial"},
    "route": {"stops": [{"street": "1 Main St", "city": "Rome"}]},
    "outline": {"tree": {"label": "root", "children": [{"label": "leaf", "children": []}]}},
}

PLANNERS = {
    "json": JSONPlanner(required_only=False),
    "json-required-only": JSONPlanner(),
    "llmcompiler": LLMCompilerPlanner(),
    "react": ReActPlanner(),
    "parallel": ParallelPlanner(),
}


def _request(planner: object) -> ChatRequest:
    context = PlanContext(question="q", tools=TOOLS)
    if hasattr(planner, "plan_request"):
        return planner.plan_request(context)  # type: ignore[no-any-return]
    return planner.step_request(context)  # type: ignore[attr-defined,no-any-return]


def _schemas(request: ChatRequest) -> list[dict[str, Any]]:
    found = []
    if request.response_format is not None:
        found.append(request.response_format["json_schema"]["schema"])
    found += [spec["function"]["parameters"] for spec in request.tools or []]
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    node: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("name", list(PLANNERS))
@pytest.mark.parametrize("tool_name", list(MUST_SHOW))
def test_the_prompt_shows_allowed_values_defaults_descriptions_and_fields(name: str, tool_name: str) -> None:
    system = _request(PLANNERS[name]).messages[0].content
    line = next(chunk for chunk in system.split("\n- ") if chunk.startswith(f"{tool_name}("))
    for text in MUST_SHOW[tool_name]:
        assert text in line, f"{name}: {text!r} missing from {line!r}"


@pytest.mark.parametrize("name", list(PLANNERS))
def test_every_schema_sent_is_self_contained(name: str) -> None:
    request = _request(PLANNERS[name])
    for schema in _schemas(request):
        for ref in _refs(schema):
            assert ref.startswith("#/") and _resolves(schema, ref), f"{name}: dangling {ref}"
        jsonschema.Draft202012Validator.check_schema(schema)


def _instance(name: str, tool_name: str) -> Any:
    args = GOOD_ARGS[tool_name]
    if name == "json-required-only":  # that planner's schema lists the required parameters only
        args = {k: v for k, v in args.items() if k in next(t for t in TOOLS if t.name == tool_name).required}
    call = {"tool": tool_name, "args": args}
    if name.startswith("json"):
        return {"tasks": [call]}
    if name == "react":
        return {"thought": "t", "action": call}
    return {"calls": [call]}


@pytest.mark.parametrize("name", [n for n in PLANNERS if n != "llmcompiler"])
@pytest.mark.parametrize("tool_name", list(GOOD_ARGS))
def test_a_correct_plan_validates_against_the_schema_we_send(name: str, tool_name: str) -> None:
    request = _request(PLANNERS[name])
    assert request.response_format is not None
    schema = request.response_format["json_schema"]["schema"]
    jsonschema.validate(_instance(name, tool_name), schema)
    # And a wrong allowed value does not.
    if tool_name == "weather" and name != "json-required-only":
        bad = json.loads(json.dumps(_instance(name, tool_name)).replace("fahrenheit", "kelvin"))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


@pytest.mark.parametrize("name", ["json", "react", "parallel"])
def test_schema_properties_carry_descriptions_defaults_and_allowed_values(name: str) -> None:
    text = json.dumps(_schemas(_request(PLANNERS[name])))
    for needle in [
        "the temperature scale",
        '"celsius"',
        '(default: \\"celsius\\")',
        '"imperial"',
        "latitude",
    ]:
        assert needle in text, f"{name}: {needle} missing"


def test_native_tool_specs_are_self_contained_and_describe_nested_fields() -> None:
    spec = ship.spec()["function"]["parameters"]
    assert not _refs(spec)
    assert spec["properties"]["address"]["properties"]["geo"]["anyOf"][0]["properties"]["lat"] == {
        "type": "number",
        "description": "latitude in degrees",
    }


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            "Do it.\n\nArgs:\n    x: the x.\n    y (int): the y,\n        continued.\n",
            {"x": "the x.", "y": "the y, continued."},
        ),
        (
            "Do it.\n\nParameters\n----------\nx : int\n    the x\ny : int\n    the y\n",
            {"x": "the x", "y": "the y"},
        ),
        ("Do it.\n\n:param x: the x\n:param y: the y\n:type y: int\n", {"x": "the x", "y": "the y"}),
    ],
    ids=["google", "numpy", "sphinx"],
)
def test_each_docstring_style_gives_every_parameter_its_description(
    doc: str, expected: dict[str, str]
) -> None:
    def fn(x: int, y: int) -> int:
        return x + y

    fn.__doc__ = doc
    made = Tool.from_function(fn)
    assert made.description == "Do it."
    assert {n: p.get("description") for n, p in made.parameters["properties"].items()} == expected


def test_a_foreign_schema_with_defs_is_made_self_contained() -> None:
    """MCP servers written with pydantic send ``$defs`` too (draft-7 servers: ``definitions``)."""
    schema = {
        "type": "object",
        "properties": {"to": {"$ref": "#/$defs/Address"}, "unit": {"$ref": "#/definitions/Unit"}},
        "required": ["to"],
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "definitions": {"Unit": {"enum": ["metric", "imperial"]}},
    }
    foreign = Tool.from_schema("send", "Send.", schema, lambda args: None, unpack=False)
    assert not _refs(foreign.parameters) and "$defs" not in foreign.parameters
    assert foreign.parameters["properties"]["to"]["properties"]["city"] == {"type": "string"}
    assert foreign.signature() == 'send(to: {city?: string}, unit: "metric"|"imperial" = null)'
