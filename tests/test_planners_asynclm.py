"""AsyncLMPlanner: reading call bodies, prompts per mode, and the GBNF grammar of a CML turn."""

from __future__ import annotations

import pytest

from orchestra._tool import Tool, tool
from orchestra.errors import PlanError
from orchestra.plan import Ref
from orchestra.planners import AsyncLMPlanner, cml_grammar
from orchestra.planning import PlanContext


@tool
def search(query: str, k: int = 3) -> str:
    """Search."""
    return query


PLAY = Tool.from_schema(
    "spotify-play",
    "Play songs.",
    {
        "type": "object",
        "properties": {
            "artist": {"type": "string"},
            "duration": {"type": "integer", "description": "Play time in minutes."},
        },
        "required": ["artist", "duration"],
    },
    lambda artist, duration: f"{artist} {duration}",
)


def context() -> PlanContext:
    return PlanContext(question="q", tools=[search, PLAY])


@pytest.mark.parametrize(
    ("body", "tool_name", "args", "kwargs"),
    [
        ('search("Nile")', "search", ["Nile"], {}),
        ("search(query='x', k=2)", "search", [], {"query": "x", "k": 2}),
        ("search($1)", "search", [Ref(1)], {}),
        (
            'spotify-play(artist="Taylor Swift", duration=20)',
            "spotify-play",
            [],
            {"artist": "Taylor Swift", "duration": 20},
        ),
    ],
)
def test_call_bodies_are_read_like_plan_lines(body, tool_name, args, kwargs):
    task = AsyncLMPlanner().parse_call(4, body, context())
    assert (task.id, task.tool, task.args, task.kwargs) == (4, tool_name, args, kwargs)


@pytest.mark.parametrize(
    "body", ["hello there", "search(x)", "search('a')\n5. search('b')", "join()", "search(**k)"]
)
def test_unreadable_bodies_are_repair_feedback(body):
    with pytest.raises(PlanError, match=r"^call 2: "):
        AsyncLMPlanner().parse_call(2, body, context())


def test_prompts_per_mode_and_the_stop_sequence():
    planner = AsyncLMPlanner()
    ctx = context()
    turn = planner.start(ctx, "turn")
    assert "[CALL] tool_name(arguments) [END]" in (turn[0].content or "")
    assert "- spotify-play(artist: string, duration: integer)" in (turn[0].content or "")
    # Parameters are described as in every other planner's listing (BFCL's units live there).
    assert "    duration: Play time in minutes." in (turn[0].content or "")
    assert [m.role for m in turn] == ["system", "user", "assistant", "user", "assistant", "user"]
    resume = planner.start(ctx, "resume")
    assert [m.role for m in resume] == ["system", "user", "assistant", "user"]
    assert "[INTR] 1 [HEAD]" in (resume[2].content or "")  # interrupts inside the model's own text
    native = planner.start(ctx, "native")
    assert "[CALL]" not in (native[0].content or "")
    assert planner.request(turn, ctx, "turn").extra == {"stop": ["[INTR]"]}
    native_request = planner.request(native, ctx, "native")
    assert native_request.tools and {t["function"]["name"] for t in native_request.tools} == {
        "search",
        "spotify-play",
    }


def test_grammar_spells_out_tools_and_parameters():
    grammar = cml_grammar([search, PLAY], require_call=True, max_answer_chars=50)
    assert 'root ::= ( call "\\n" ){1,12} ( "[TRAP][END]" | answer )' in grammar
    assert 'tool0 ::= "search(" "query=" ( str | ref ) ( ", " "k=" ( int | ref ) )? ")"' in grammar
    assert 'tool1 ::= "spotify-play(" "artist=" ( str | ref ) ", " "duration=" ( int | ref ) ")"' in grammar
    assert cml_grammar([search], allow_calls=False).startswith("root ::= answer\n")
    planner = AsyncLMPlanner(grammar=True)
    assert "grammar" in planner.request([], context(), "turn").extra
