"""Tools: typed Python functions (or foreign JSON schemas) that a planner can call.

``@tool`` turns a typed function, sync or async, into a :class:`Tool`: a name, a description taken
from the docstring, a JSON schema for the parameters built with pydantic's public API
(``create_model`` from the signature), and execution options (timeout, retries, per-tool
concurrency, side-effect flag) that the executor honours.

Arguments are validated and coerced by pydantic before the function runs, so a planner that writes
``search("x", k="3")`` gets ``k=3``, and one that writes ``k="three"`` gets a :class:`ToolError`
naming the argument. Sync functions run in a daemon worker thread so one slow tool never blocks
the event loop that the other tasks of the plan share, and one that never returns does not keep
the process alive at exit (anyio's worker threads are joined at interpreter exit).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints, overload

import anyio.from_thread
import anyio.lowlevel
import docstring_parser
import pydantic

from orchestra.errors import ToolError, UsageError

__all__ = ["Tool", "tool"]

# OpenAI's rule for function names; a name outside it is rejected by every compatible server.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}

Validator = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Checks and coerces a complete argument dict, raising :class:`ToolError`."""


@dataclass(frozen=True, eq=False)
class Tool:
    """A callable tool: what the planner sees (name, description, schema) and how to run it.

    Build one with :func:`tool`, :meth:`from_function` or :meth:`from_schema` rather than directly.

    Attributes:
        name: the function name the planner writes (``[A-Za-z0-9_-]{1,64}``).
        description: what the tool does, shown to the planner.
        parameters: JSON schema of the arguments: ``{"type": "object", "properties", "required"}``.
        fn: the function that does the work.
        timeout: seconds one attempt may take (the executor enforces it), or None.
        retries: extra attempts after a failure or timeout (the executor enforces it).
        concurrency: at most this many calls of this tool run at once, or None for no limit.
        side_effects: True when two identical calls must both run (writes, sends); False lets the
            executor run identical calls of one plan once.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] = field(repr=False)
    timeout: float | None = None
    retries: int = 0
    concurrency: int | None = None
    side_effects: bool = False
    validator: Validator | None = field(default=None, repr=False)
    """Coerces a full argument dict; None means the light JSON-schema check of :meth:`from_schema`."""
    is_async: bool = field(default=False, repr=False)
    unpack: bool = field(default=True, repr=False)
    """Call ``fn(**args)`` (True) or ``fn(args)`` (False, for adapters that take one dict)."""

    def __post_init__(self) -> None:
        # Cached because the executor asks for them per task (frozen: set through object).
        object.__setattr__(self, "_names", tuple(self.parameters.get("properties", {})))
        object.__setattr__(self, "_required", frozenset(self.parameters.get("required", ())))
        if not _NAME_RE.match(self.name):
            raise UsageError(f"tool name {self.name!r} must match [A-Za-z0-9_-]{{1,64}}")
        if self.name == "join":  # orchestra.plan.JOIN: a plan's join() would shadow the tool
            raise UsageError("tool name 'join' is reserved: join() ends a plan")
        if self.timeout is not None and self.timeout <= 0:
            raise UsageError(f"tool {self.name!r}: timeout must be positive, got {self.timeout}")
        if self.retries < 0:
            raise UsageError(f"tool {self.name!r}: retries must be >= 0, got {self.retries}")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError(f"tool {self.name!r}: concurrency must be >= 1, got {self.concurrency}")

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        concurrency: int | None = None,
        side_effects: bool = False,
    ) -> Tool:
        """Build a tool from a typed function; see :func:`tool` for the options.

        Raises:
            UsageError: the signature has ``*args``, or a type pydantic cannot put in a JSON schema.
        """
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name:
            raise UsageError(f"{fn!r} has no __name__: give the tool a name=")
        model = _signature_model(fn, tool_name, arg_docs)
        try:
            parameters = _clean_schema(_inline_refs(model.model_json_schema()))
        except pydantic.PydanticUserError as exc:  # e.g. a parameter typed with an arbitrary class
            raise UsageError(
                f"tool {tool_name!r}: parameters cannot be described as JSON schema: {exc}"
            ) from exc
        return cls(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=parameters,
            fn=fn,
            timeout=timeout,
            retries=retries,
            concurrency=concurrency,
            side_effects=side_effects,
            validator=_model_validator(model, tool_name),
            is_async=_is_async(fn),
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        fn: Callable[..., Any],
        *,
        unpack: bool = True,
        timeout: float | None = None,
        retries: int = 0,
        concurrency: int | None = None,
        side_effects: bool = True,
    ) -> Tool:
        """Wrap a function that brings its own JSON schema (MCP servers, HTTP APIs).

        Validation is deliberately light, because the remote side validates for real: required keys
        must be present, keys outside ``properties`` are refused when the schema says
        ``additionalProperties: false``, and each top-level value must have its property's JSON
        ``type`` (no coercion, no nested checks).

        Args:
            name: the tool name.
            description: what it does.
            parameters: a JSON schema of type object.
            fn: called as ``fn(**args)`` (or ``fn(args)`` with ``unpack=False``); sync or async.
            unpack: whether ``fn`` takes keyword arguments or one dict.
            timeout: see :class:`Tool`.
            retries: see :class:`Tool`.
            concurrency: see :class:`Tool`.
            side_effects: defaults to True: a foreign tool may well write somewhere.
        """
        # Self-contained like our own: a server's "#/$defs/X" would dangle inside a plan schema.
        schema = _inline_refs(dict(parameters))
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        if schema["type"] != "object":
            raise UsageError(
                f"tool {name!r}: parameters schema must be of type object, got {schema['type']!r}"
            )
        return cls(
            name=name,
            description=description,
            parameters=schema,
            fn=fn,
            timeout=timeout,
            retries=retries,
            concurrency=concurrency,
            side_effects=side_effects,
            validator=None,
            is_async=_is_async(fn),
            unpack=unpack,
        )

    def with_options(self, **changes: Any) -> Tool:
        """A copy with some options changed, e.g. ``search.with_options(timeout=2)``."""
        return dataclasses.replace(self, **changes)

    # -- the planner's view ---------------------------------------------------------------------

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in positional order (the function's signature order)."""
        return self._names  # type: ignore[attr-defined,no-any-return]

    @property
    def required(self) -> frozenset[str]:
        """Names of the required parameters."""
        return self._required  # type: ignore[attr-defined,no-any-return]

    def spec(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry: ``{"type": "function", "function": {name, description, parameters}}``."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def signature(self) -> str:
        """A one-line Python-like signature for text prompts.

        Allowed values, defaults and nested fields are spelled out, e.g.
        ``weather(city: string, unit: "celsius"|"fahrenheit" = "celsius")``.
        """
        props = self.parameters.get("properties", {})
        parts = []
        for pname, prop in props.items():
            text = f"{pname}: {_type_label(prop)}"
            if pname not in self.required and "default" in prop:
                text += f" = {_json(prop['default'])}"
            elif pname not in self.required:
                text += " = null"
            parts.append(text)
        return f"{self.name}({', '.join(parts)})"

    def parameter_lines(self) -> list[str]:
        """One line per described parameter or nested field, for prompts: ``address.street: ...``."""
        return _described_fields(self.parameters.get("properties", {}), "", 0)

    # -- arguments ------------------------------------------------------------------------------

    def bind(self, args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Map positional arguments to parameter names, as Python would: ``search("x", k=3)``.

        Only the shape is checked here (too many positional arguments, one given twice); values
        are checked by :meth:`check` / :meth:`call`.

        Raises:
            ToolError: too many positional arguments, or an argument given both ways.
        """
        names = self._names  # type: ignore[attr-defined]
        if not args:
            return dict(kwargs) if kwargs else {}
        args = list(args)
        kwargs = kwargs or {}
        if len(args) > len(names):
            raise ToolError(
                f"{self.name}() takes at most {len(names)} positional argument(s) ({', '.join(names) or 'none'}), "
                f"got {len(args)}",
                tool=self.name,
            )
        bound = dict(zip(names, args, strict=False))
        for pname, value in kwargs.items():
            if pname in bound:
                raise ToolError(f"{self.name}() got multiple values for argument {pname!r}", tool=self.name)
            bound[pname] = value
        return bound

    def check(self, bound: Mapping[str, Any], *, unresolved: Iterable[str] = ()) -> None:
        """Check arguments before they are all known (plan validation).

        Missing required and unknown names are reported; values are type-checked except those
        named in ``unresolved`` (they hold references to results that do not exist yet).

        Raises:
            ToolError: listing every problem found, one per line.
        """
        later = frozenset(unresolved)
        props = self.parameters.get("properties", {})
        literal = {n: v for n, v in bound.items() if n in props and n not in later}
        problems = self._shape_problems(bound) + self._value_problems(literal)
        if problems:
            raise ToolError(f"{self.name}(): " + "; ".join(problems), tool=self.name)

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce a complete argument dict; returns what the function will receive.

        Raises:
            ToolError: naming each bad, missing or unexpected argument.
        """
        if self.validator is not None:
            return self.validator(args)
        problems = self._shape_problems(args) + self._value_problems(args)
        if problems:
            raise ToolError(f"{self.name}(): " + "; ".join(problems), tool=self.name)
        return dict(args)

    def _shape_problems(self, bound: Mapping[str, Any]) -> list[str]:
        props = self.parameters.get("properties", {})
        problems = [
            f"missing required argument {n!r}" for n in self.parameters.get("required", ()) if n not in bound
        ]
        closed = self.validator is not None or self.parameters.get("additionalProperties") is False
        if closed:
            extra = [n for n in bound if n not in props]
            if extra:
                problems += [
                    f"unexpected argument {n!r} (parameters: {', '.join(props) or 'none'})" for n in extra
                ]
        return problems

    def _value_problems(self, values: Mapping[str, Any]) -> list[str]:
        """Type problems of the given values only (others may be missing or not known yet)."""
        if not values:
            return []
        if self.validator is not None:
            # One pass through the same pydantic model, keeping only the errors about these values
            # (the rest are missing-argument errors, reported by _shape_problems when they matter).
            try:
                self.validator(values)
            except ToolError as exc:
                per_name: dict[str, str] = getattr(exc, "problems", {})
                return [
                    text for name, text in per_name.items() if name in values and not text.startswith("unexp")
                ]
            return []
        props = self.parameters.get("properties", {})
        found = (_json_type_problem(n, v, props.get(n, {}).get("type")) for n, v in values.items())
        return [p for p in found if p]

    # -- running --------------------------------------------------------------------------------

    async def call(self, args: Mapping[str, Any]) -> Any:
        """Validate ``args`` and run the tool once; sync functions run in a worker thread.

        Timeout, retries and concurrency limits are the executor's job (so that they are recorded
        in the trace); this is one plain attempt. Exceptions raised by the function propagate
        unchanged.

        Raises:
            ToolError: the arguments do not fit the schema.
        """
        return await self.invoke(self.validate(args))

    async def invoke(self, kwargs: dict[str, Any]) -> Any:
        """Run the tool once with arguments already returned by :meth:`validate`.

        A sync function runs in a daemon thread (:func:`run_in_daemon_thread`); if the caller is
        cancelled (a timeout, a cancelled run) the thread is abandoned rather than waited for, so
        the run still ends on time and the process can still exit (Python cannot kill a thread;
        the function's return value is then discarded).
        """
        if self.is_async:
            return await (self.fn(**kwargs) if self.unpack else self.fn(kwargs))
        call = functools.partial(self.fn, **kwargs) if self.unpack else functools.partial(self.fn, kwargs)
        result = await run_in_daemon_thread(call)
        if inspect.isawaitable(result):  # a sync wrapper that returned a coroutine
            result = await result
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (no validation, no thread), as if undecorated."""
        return self.fn(*args, **kwargs)


async def run_in_daemon_thread(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a new daemon thread (with the caller's contextvars) and await its outcome.

    anyio's ``to_thread.run_sync(..., abandon_on_cancel=True)`` returns on cancellation, but its
    worker threads are not daemons: the interpreter joins them at exit, so a tool that never
    returns (a hung socket, ``while True``) kept the whole process alive after the run had
    ended. A daemon thread is not joined; an abandoned one just dies with the process. A
    function that holds the GIL in one long C call (``10**10**9``) still stalls every thread:
    such costs must be bounded before the call (the calculator does).

    Returns:
        what ``call`` returned; its exception is raised here. Cancellation abandons the thread.
    """
    token = anyio.lowlevel.current_token()
    done = anyio.Event()
    outcome: list[tuple[bool, Any]] = []
    context = contextvars.copy_context()

    def work() -> None:
        try:
            outcome.append((True, context.run(call)))
        except BaseException as exc:  # delivered to the awaiting task, which re-raises it
            outcome.append((False, exc))
        try:
            anyio.from_thread.run_sync(done.set, token=token)
        except Exception:  # the event loop has ended (RunFinishedError): nobody waits any more
            pass

    threading.Thread(target=work, name=f"orchestra tool {getattr(call, '__name__', '')}", daemon=True).start()
    await done.wait()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    concurrency: int | None = None,
    side_effects: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    concurrency: int | None = None,
    side_effects: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function, sync or async, into a :class:`Tool`; usable bare or with options.

    ::

        @tool
        def add(a: int, b: int) -> int:
            '''Add two integers.'''
            return a + b

        @tool(timeout=5, retries=1, concurrency=4)
        async def search(query: str, k: int = 5) -> list[str]:
            '''Search the corpus.

            Args:
                query: what to look for.
                k: how many hits to return.
            '''

    Args:
        fn: the function (when used bare).
        name: tool name; defaults to the function's name.
        description: defaults to the docstring's first paragraph.
        timeout: seconds per attempt.
        retries: extra attempts after a failure.
        concurrency: at most this many concurrent calls of this tool.
        side_effects: the call changes the world, so identical calls must not be merged.
    """

    def make(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            f,
            name=name,
            description=description,
            timeout=timeout,
            retries=retries,
            concurrency=concurrency,
            side_effects=side_effects,
        )

    return make(fn) if fn is not None else make


# -- helpers ------------------------------------------------------------------------------------


def _is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` gives a coroutine: async functions, partials of them, async ``__call__``."""
    target = inspect.unwrap(fn)
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(target, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and not inspect.isfunction(target) and inspect.iscoroutinefunction(call)


def _signature_model(
    fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str]
) -> type[pydantic.BaseModel]:
    """A pydantic model of ``fn``'s parameters; fields are ``p0..pn`` aliased to the real names.

    The aliasing lets any parameter name through (``schema``, ``model_x``, ``_private`` would
    clash with BaseModel attributes or be refused as field names).
    """
    typed = fn if inspect.isroutine(fn) or isinstance(fn, functools.partial) else type(fn).__call__
    try:
        sig = inspect.signature(fn)
        hints = get_type_hints(
            typed.func if isinstance(typed, functools.partial) else typed, include_extras=True
        )
    except (TypeError, ValueError, NameError) as exc:
        raise UsageError(
            f"tool {tool_name!r}: cannot read the signature: {exc} "
            "(types in annotations must be importable from the function's module)"
        ) from exc
    fields: dict[str, Any] = {}
    extra: Literal["allow", "forbid"] = "forbid"
    for i, (pname, param) in enumerate(sig.parameters.items()):
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise UsageError(f"tool {tool_name!r}: *{pname} is not supported; name every parameter")
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = "allow"
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise UsageError(
                f"tool {tool_name!r}: positional-only parameter {pname!r} cannot be passed by name"
            )
        annotation = hints.get(pname, Any)
        info = pydantic.Field(alias=pname, description=arg_docs.get(pname))
        if param.default is not inspect.Parameter.empty:
            info = pydantic.Field(param.default, alias=pname, description=arg_docs.get(pname))
        fields[f"p{i}"] = (annotation, info)
    config = pydantic.ConfigDict(extra=extra, arbitrary_types_allowed=True, populate_by_name=False)
    try:
        model: type[pydantic.BaseModel] = pydantic.create_model(
            f"{tool_name}_args", __config__=config, **fields
        )
    except pydantic.PydanticUserError as exc:
        raise UsageError(f"tool {tool_name!r}: unsupported parameter types: {exc}") from exc
    return model


def _model_validator(model: type[pydantic.BaseModel], tool_name: str) -> Validator:
    """A validator returning the coerced arguments as objects (not dumped to dicts)."""
    # Every field is built with alias=the parameter's name (_args_model), so alias is never None.
    field_of_alias = {str(info.alias): fname for fname, info in model.model_fields.items()}

    def validate(args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            obj = model.model_validate(args)
        except pydantic.ValidationError as exc:
            problems = _problems_of(exc)
            error = ToolError(f"{tool_name}(): " + "; ".join(problems.values()), tool=tool_name)
            error.problems = problems  # type: ignore[attr-defined]  # per-argument, for Tool.check
            raise error from None
        out = {alias: getattr(obj, fname) for alias, fname in field_of_alias.items()}
        if obj.model_extra:
            out.update(obj.model_extra)
        return out

    return validate


def _problems_of(exc: pydantic.ValidationError) -> dict[str, str]:
    """One readable problem per argument name, from pydantic's error list."""
    problems: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ("?",)
        pname = str(loc[0])
        if err["type"] == "missing" and len(loc) == 1:
            text = f"missing required argument {pname!r}"
        elif err["type"] == "extra_forbidden" and len(loc) == 1:
            text = f"unexpected argument {pname!r}"
        else:
            where = pname + "".join(f"[{p!r}]" for p in loc[1:])
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            text = f"argument {where!r}: {err['msg']} (got {shown})"
        problems.setdefault(pname, text)
    return problems


def _json_type_problem(pname: str, value: Any, expected: Any) -> str | None:
    if not expected:
        return None
    kinds = [expected] if isinstance(expected, str) else list(expected)
    allowed: tuple[type, ...] = ()
    for kind in kinds:
        allowed += _JSON_TYPES.get(kind, (object,))
    ok = isinstance(value, allowed)
    if ok and isinstance(value, bool) and "boolean" not in kinds:
        ok = False  # bool is an int in Python, not in JSON
    if ok:
        return None
    return f"argument {pname!r}: expected {' or '.join(kinds)}, got {type(value).__name__} {value!r:.60}"


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's auto titles (noise in a prompt) and make the shape explicit."""
    schema = dict(schema)
    schema.pop("title", None)
    props = {}
    for pname, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        props[pname] = prop
    schema["properties"] = props
    schema.setdefault("required", [])
    schema["type"] = "object"
    return schema


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _type_label(prop: Mapping[str, Any], depth: int = 0) -> str:
    """A compact type for a prompt: ``"a"|"b"`` for allowed values, ``{x: number}`` for objects."""
    if "const" in prop:
        return _json(prop["const"])
    if "enum" in prop:
        return "|".join(_json(v) for v in prop["enum"])
    if "anyOf" in prop or "oneOf" in prop:
        return "|".join(_type_label(p, depth) for p in prop.get("anyOf", prop.get("oneOf", [])))
    if "allOf" in prop and len(prop["allOf"]) == 1:
        return _type_label(prop["allOf"][0], depth)
    kind = prop.get("type")
    if kind == "array":
        return f"list[{_type_label(prop.get('items', {}), depth)}]"
    if kind == "object" and "properties" in prop and depth < 3:
        required = set(prop.get("required", ()))
        fields = [
            f"{n}{'' if n in required else '?'}: {_type_label(p, depth + 1)}"
            for n, p in prop["properties"].items()
        ]
        return "{" + ", ".join(fields) + "}"
    if kind is not None:
        return "|".join(kind) if isinstance(kind, list) else str(kind)
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    return "any"


_MAX_INLINE_DEPTH = 8


def _described_fields(props: Mapping[str, Any], prefix: str, depth: int) -> list[str]:
    """``path: description`` for every described property, nested objects and list items included."""
    lines = []
    for name, prop in props.items():
        path = f"{prefix}{name}"
        if prop.get("description"):
            lines.append(f"{path}: {prop['description']}")
        if depth >= 3:
            continue
        for inner in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
            if isinstance(inner, Mapping) and isinstance(inner.get("properties"), Mapping):
                nested = "[]" if inner is prop.get("items") else ""
                lines += _described_fields(inner["properties"], f"{path}{nested}.", depth + 1)
            elif isinstance(inner, Mapping) and isinstance(inner.get("items"), Mapping) and inner is not prop:
                item = inner["items"]
                if isinstance(item.get("properties"), Mapping):
                    lines += _described_fields(item["properties"], f"{path}[].", depth + 1)
    return lines


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``$ref`` into its ``$defs`` replaced by the definition itself.

    Every schema we send must be self-contained: a planner puts a tool's ``properties`` inside a
    larger ``response_format`` schema, where ``#/$defs/Address`` would point nowhere and even a
    correct plan fails validation. A recursive model (a tree) is cut at ``_MAX_INLINE_DEPTH``
    levels to a plain ``{"type": "object"}``; pydantic still validates the real type at run time.
    """
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def walk(node: Any, depth: int, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(v, depth, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            name = ref.split("/")[-1]
            rest = {k: walk(v, depth, seen) for k, v in node.items() if k != "$ref"}
            if name in seen or depth >= _MAX_INLINE_DEPTH or name not in defs:
                return {"type": "object", **rest}
            target = walk(defs[name], depth + 1, (*seen, name))
            return {**target, **rest}  # the use site's description/default win
        out = {}
        for key, value in node.items():
            if key in ("$defs", "definitions", "title"):  # pydantic's auto titles are prompt noise
                continue
            if key == "properties" and isinstance(value, dict):  # names, not keywords
                out[key] = {n: walk(p, depth, seen) for n, p in value.items()}
            else:
                out[key] = walk(value, depth, seen)
        return out

    return walk(schema, 0, ())  # type: ignore[no-any-return]


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary, and per-parameter descriptions from a Google, NumPy or Sphinx (reST) docstring.

    Parsed with ``docstring_parser`` (style detected per docstring), as pydantic-ai does, rather
    than a hand-written parser: NumPy's ``Parameters`` / ``----------`` and Sphinx's
    ``:param x:`` used to leave every description empty, silently.

    Returns:
        ``(summary, {parameter: description})``; the summary is the short and long description
        up to the first blank line after text (the first paragraph).
    """
    if not doc.strip():
        return "", {}
    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return doc.strip().split("\n\n", 1)[0].replace("\n", " "), {}
    summary = parsed.short_description or ""
    if parsed.long_description and not parsed.blank_after_short_description:
        summary = f"{summary} {parsed.long_description.split(chr(10) * 2, 1)[0]}"
    arg_docs = {
        p.arg_name.lstrip("*"): " ".join((p.description or "").split())
        for p in parsed.params
        if p.args and p.args[0] in ("param", "parameter", "arg", "argument", "key", "keyword")
    }
    return " ".join(summary.split()), {k: v for k, v in arg_docs.items() if v}
