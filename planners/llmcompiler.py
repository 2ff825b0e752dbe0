"""LLMCompiler's numbered text plan, with an incremental parser that is right at any chunk boundary.

The format (Kim et al., "An LLM Compiler for Parallel Function Calling", ICML 2024)::

    Thought: both heights are independent lookups.
    1. search("Eiffel Tower height")
    2. search(query="Statue of Liberty height", k=2)
    3. calculator(expression="${1} - ${2}")
    4. join()

Defects of the public parser that this one does not have (docs/design.md, LLMCompiler):

- it matches tasks in each streamed chunk, so a chunk carrying two lines loses one. Here text is
  buffered and only *complete lines* are parsed, so the tasks do not depend on how the stream was
  cut (a property test feeds random chunkings of one text);
- arguments are positional only and every value becomes a string. Here each argument list is parsed
  with :mod:`ast` (never ``eval``): keyword and positional arguments, nested lists/dicts/tuples,
  numbers, booleans, ``None`` (and JSON's ``true``/``false``/``null``); a bare ``$k`` / ``$k.field``
  / ``$k[i]`` is a reference whose object is passed as is;
- it reads every ``$1`` inside a string as a reference, so ``search("coffee over $1?")`` gets a
  result spliced in. Here only a bare ``$k`` outside quotes, a string that is only ``"$k"`` of an
  earlier task, or a braced ``${k}`` inside text is a reference; ``"hotels under $150"`` is text
  (the rule: :mod:`orchestra.references`);
- a task or ``join()`` on the same line as ``<END_OF_PLAN>`` (a server that ignores ``stop``) is
  kept, not dropped with the marker.

A statement whose brackets are still open at the end of a line continues on the next one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestra.chat import ChatRequest, Message
from orchestra.errors import PlanError
from orchestra.plan import JOIN, Task
from orchestra.planners.base import plan_prompt, tool_lines
from orchestra.planners.joiner import JSONJoiner
from orchestra.planning import Joiner, PlanContext

__all__ = ["END_OF_PLAN", "LLMCompilerParser", "LLMCompilerPlanner"]

END_OF_PLAN = "<END_OF_PLAN>"
_TASK_RE = re.compile(r"^\s*(?:#\s*)?(\d+)\s*[.):]\s*(.*)$", re.S)
_THOUGHT_RE = re.compile(r"^\s*Thought\s*:\s*(.*)$", re.I | re.S)
_BARE_RE = re.compile(r"\$\{?(\d+)\}?(.*)", re.S)
_REF_RE = re.compile(r"\$(?:\{\d+\}|\d+)(?:\.[A-Za-z_]\w*|\[-?\d+\]|\['[^'\]]*'\]|\[\"[^\"\]]*\"\])*")
_CALL_START_RE = re.compile(r"^\s*(?:#\s*)?\d+\s*[.):]\s*[A-Za-z_][\w-]*\s*\(")
_JSON_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_MAX_STATEMENT = 20_000
_MAX_DEPTH = 40


class LLMCompilerParser:
    """Turns a streamed numbered plan into :class:`~orchestra.plan.Task` events.

    Args:
        first_id: the id an unnumbered ``join()`` takes when nothing was numbered yet.
    """

    def __init__(self, first_id: int = 1) -> None:
        self._buffer = ""
        self._pending: str | None = None  # a numbered statement whose brackets are still open
        self._thought: str | None = None
        self._next_id = first_id
        self._error: PlanError | None = None
        self.done = False
        """True once ``join()`` or ``<END_OF_PLAN>`` was read; later text is ignored."""

    def feed(self, text: str) -> list[Task]:
        """Consume a chunk; return the tasks whose lines it completed."""
        self._raise_deferred()
        if self.done:
            return []
        self._buffer += text
        tasks: list[Task] = []
        while not self.done and "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            try:
                tasks += self._line(line)
            except PlanError as exc:
                if not tasks:
                    raise
                # Hand out the tasks before the bad line first, so what is dispatched does not
                # depend on whether the bad line came in the same chunk; the error comes next call.
                self._error = exc
                self.done = True
                return tasks
        if self._pending is not None and len(self._pending) + len(self._buffer) > _MAX_STATEMENT:
            raise PlanError(
                f"a task statement is longer than {_MAX_STATEMENT} characters; keep arguments short"
            )
        return tasks

    def close(self) -> list[Task]:
        """The stream ended: parse the last line; an unfinished statement is a :class:`PlanError`."""
        self._raise_deferred()
        tasks: list[Task] = []
        if not self.done:
            rest, self._buffer = self._buffer, ""
            tasks = self._line(rest)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            task = self._statement(pending, final=True)
            assert task is not None  # final=True always reads the statement or raises
            tasks.append(task)
        self.done = True
        return tasks

    def _raise_deferred(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # -- lines --------------------------------------------------------------------------------

    def _line(self, line: str) -> list[Task]:
        if self._pending is not None:
            self._pending += "\n" + line
            task = self._statement(self._pending, final=False)
            if task is None:
                return []
            self._pending = None
            return [task]
        stripped = line.strip()
        if not stripped:
            return []
        if END_OF_PLAN in stripped:
            # A server that ignores `stop` may put the last task on the marker's line.
            before = stripped.split(END_OF_PLAN, 1)[0]
            tasks = self._line(before) if before.strip() else []
            pending = self._take_pending()
            if pending is not None:  # a statement the marker cut off: read it now, or report it
                last = self._statement(pending, final=True)
                tasks += [last] if last is not None else []
            self.done = True
            return tasks
        thought = _THOUGHT_RE.match(stripped)
        if thought:
            self._thought = thought.group(1).strip() or None
            return []
        if re.fullmatch(r"join\(\s*\)", stripped):
            return [self._make(self._next_id, JOIN, [], {})]
        if not _TASK_RE.match(stripped):
            return []  # prose around the plan (LLMCompiler ignores it too)
        # Only a statement that starts like a call may continue on the next line, so numbered prose
        # with an unbalanced parenthesis is reported at once instead of swallowing the plan.
        task = self._statement(stripped, final=_CALL_START_RE.match(stripped) is None)
        if task is None:
            self._pending = stripped
            return []
        return [task]

    def _take_pending(self) -> str | None:
        pending, self._pending = self._pending, None
        return pending

    def _statement(self, text: str, *, final: bool) -> Task | None:
        """The task of ``N. tool(args)``, or None while its brackets are still open."""
        match = _TASK_RE.match(text)
        assert match is not None
        task_id = int(match.group(1))
        body = match.group(2).strip()
        source, depth, open_string = _quote_refs(body)
        if (depth > 0 or open_string) and not final:
            return None
        try:
            tree = ast.parse(source, mode="eval") if depth <= _MAX_DEPTH else None
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            tree = None
        if tree is None or not isinstance(tree.body, ast.Call) or not isinstance(tree.body.func, ast.Name):
            raise PlanError(
                f"task {task_id}: cannot read {_short(body)!r}; write `{task_id}. tool_name(arg, name=value)` "
                "with literal arguments or $k references",
                task_id=task_id,
            )
        call, func = tree.body, tree.body.func
        args = [_literal(a, task_id) for a in call.args]
        kwargs: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:
                raise PlanError(
                    f"task {task_id}: **arguments are not supported; name each one", task_id=task_id
                )
            kwargs[kw.arg] = _literal(kw.value, task_id)
        return self._make(task_id, func.id, args, kwargs)

    def _make(self, task_id: int, tool: str, args: list[Any], kwargs: dict[str, Any]) -> Task:
        task = Task(task_id, tool, args, kwargs, thought=self._thought)
        self._thought = None
        self._next_id = max(self._next_id, task_id + 1)
        if task.is_join:
            self.done = True
        return task


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote_refs(text: str) -> tuple[str, int, bool]:
    """Quote bare ``$k`` references outside string literals; also report bracket depth and open strings.

    Returns:
        ``(source, depth, open_string)``: ``source`` is valid Python where the plan was; ``depth``
        is the number of brackets still open at the end; ``open_string`` whether a string is.
    """
    out: list[str] = []
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ("'''", '"""') else ch
            end = _string_end(text, i + len(quote), quote)
            if end is None:
                # An open triple-quoted string may continue on the next line; a one-line string may not.
                out.append(text[i:])
                return "".join(out), depth, len(quote) == 3
            out.append(text[i:end])
            i = end
            continue
        if ch == "$":
            match = _REF_RE.match(text, i)
            if match:
                # Braced, so it stays a reference whatever task it names (a bad one is then
                # reported, instead of being read as the text "$7").
                number, path = _BARE_RE.fullmatch(match.group(0)).groups()  # type: ignore[union-attr]
                out.append(repr("${" + number + path + "}"))
                i = match.end()
                continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out), depth, False


def _string_end(text: str, start: int, quote: str) -> int | None:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        if len(quote) == 1 and text[i] == "\n":
            return None
        i += 1
    return None


def _literal(node: ast.AST, task_id: int) -> Any:
    """A Python literal from the AST (never ``eval``): constants, containers, signed numbers."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List):
        return [_literal(e, task_id) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, task_id) for e in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_key(k, task_id): _literal(v, task_id) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, task_id)
        if isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    text = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
    raise PlanError(
        f"task {task_id}: argument {_short(text)!r} is not a literal; use strings, numbers, lists, dicts, "
        "or $k references (write an expression as a string for the calculator)",
        task_id=task_id,
    )


def _key(node: ast.AST | None, task_id: int) -> Any:
    key = _literal(node, task_id) if node is not None else None
    try:
        hash(key)
    except TypeError:
        raise PlanError(f"task {task_id}: a dict key must be a string or a number", task_id=task_id) from None
    return key


_SYSTEM = """You are a planner. Write a plan of tool calls that answers the question, one numbered task per line:
N. tool_name(arguments)
Tools:
{tools}
Rules:
- Arguments are Python literals (strings, numbers, lists, dicts), positional or name=value.
- $k stands for the result of task k ($k.field, $k[0] reach into it); write it outside quotes,
  e.g. lookup($1), and use only earlier tasks.
- Inside a string, ${{k}} inserts the result of task k as text: "compare ${{1}} with ${{2}}".
  Any other $ in a string is plain text: "hotels under $150".
- Tasks that do not use each other's results run in parallel: prefer independent tasks.
- You may write a line `Thought: ...` before a task.
- End the plan with `N. join()` and then {end}.
Example:
Thought: the two lookups are independent.
1. search("Nile length")
2. search(query="Amazon length")
3. join()
{end}"""


@dataclass
class LLMCompilerPlanner:
    """The LLMCompiler planner: numbered text plans, streamed and parsed incrementally.

    Attributes:
        joiner: the joiner the ``compiler`` strategy uses with this planner.
        max_tokens: most tokens for one plan.
        temperature: sampling temperature for the plan.
        system: the system prompt template (``{tools}`` and ``{end}`` are filled in).
    """

    joiner: Joiner | None = None
    max_tokens: int = 512
    temperature: float | None = 0.0
    system: str = _SYSTEM

    def __post_init__(self) -> None:
        if self.joiner is None:
            self.joiner = JSONJoiner()

    def plan_request(self, context: PlanContext) -> ChatRequest:
        """A request for the next round's plan, with earlier results and feedback in it."""
        system = self.system.format(tools=tool_lines(context.tools), end=END_OF_PLAN)
        return ChatRequest(
            messages=[
                Message(role="system", content=system),
                Message(role="user", content=plan_prompt(context)),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            extra={"stop": [END_OF_PLAN]},
        )

    def parser(self, context: PlanContext) -> LLMCompilerParser:
        """A fresh incremental parser for one plan."""
        return LLMCompilerParser(context.next_id)


def parse_plan(text: str, first_id: int = 1, chunks: Sequence[int] = ()) -> list[Task]:
    """Parse a whole plan text (``chunks`` optionally splits it at these offsets, for tests)."""
    parser = LLMCompilerParser(first_id)
    tasks: list[Task] = []
    last = 0
    for cut in sorted(chunks):
        tasks += parser.feed(text[last:cut])
        last = cut
    tasks += parser.feed(text[last:])
    return tasks + parser.close()
