"""References between plan tasks: ``$k``, ``$k.field``, ``$k[i]``, and braced ``${k.field}``.

A plan argument that *is* a reference (``search($1)``, ``{"x": "$2.items[0]"}``) receives the
referenced object itself, so a list stays a list and a dict stays a dict. The public LLMCompiler
instead ``str.replace``-s ``$1`` everywhere, so every argument becomes a string, and a dollar
amount in a question (``"is a coffee over $1?"``) gets a result spliced in (docs/design.md,
LLMCompiler defects). The rule here, taught in every planner's prompt:

- a string that is only a reference, ``"$1"`` / ``"$1.items[0]"`` (blanks around allowed), is
  that reference, and must name an earlier task (else the plan is invalid, with feedback);
- a braced ``${k...}`` is a reference inside text too: ``"compare ${1} with ${2}"`` is
  interpolated as text;
- any other ``$`` followed by digits inside text is plain text: ``"hotels under $150"``,
  ``"is a coffee over $1?"``;
- ``$$`` writes a literal dollar sign: ``"$$150"`` is the text ``$150``, never a reference.

Strings are compiled once, when a :class:`~orchestra.plan.Task` is built, into :class:`Ref` and
:class:`Template` values; :func:`resolve` then substitutes results without re-parsing.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestra.errors import PlanError

__all__ = ["Ref", "Template", "compile_refs", "refs_in", "render", "resolve"]

Step = str | int
"""One step of a reference path: a field/key name or a list index."""

_PATH = r"(?:\.[A-Za-z_]\w*|\[-?\d+\]|\['[^'\]]*'\]|\[\"[^\"\]]*\"\])*"
# ``$$`` first so that an escaped dollar is never read as the start of a reference.
# ``${k...}`` braces the whole reference, path included, so text may follow it directly.
_TOKEN_RE = re.compile(r"\$\$|\$\{(\d+)(" + _PATH + r")\}")
# A string that is nothing but one bare reference (blanks around it allowed).
_WHOLE_RE = re.compile(r"\s*\$(\d+)(" + _PATH + r")\s*")
_STEP_RE = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\['([^'\]]*)'\]|\[\"([^\"\]]*)\"\]")


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to the result of task ``task_id``, optionally into it along ``path``.

    Attributes:
        task_id: the referenced task.
        path: field names (``.name`` / ``['key']``) and indexes (``[0]``) applied in order.
    """

    task_id: int
    path: tuple[Step, ...] = ()

    def __str__(self) -> str:
        out = f"${self.task_id}"
        for step in self.path:
            if isinstance(step, int):
                out += f"[{step}]"
            elif step.isidentifier():
                out += f".{step}"
            else:
                out += f"[{step!r}]"
        return out

    def lookup(self, values: Mapping[int, Any]) -> Any:
        """The referenced object, taken from the finished tasks' ``values``.

        Raises:
            PlanError: the task has no result, or a path step does not exist in it (never a bare
                KeyError: the public LLMCompiler raises one for a missing task).
        """
        try:
            obj = values[self.task_id]
        except KeyError:
            known = ", ".join(f"${k}" for k in sorted(values)) or "none"
            raise PlanError(
                f"{self} refers to task {self.task_id}, which has no result (results available: {known})"
            ) from None
        for i, step in enumerate(self.path):
            obj = _step_into(obj, step, Ref(self.task_id, self.path[: i + 1]))
        return obj


@dataclass(frozen=True, slots=True)
class Template:
    """A string with embedded references, interpolated as text when resolved.

    Attributes:
        parts: literal text pieces and :class:`Ref` values, in order.
    """

    parts: tuple[str | Ref, ...]

    def __str__(self) -> str:
        return "".join(p.replace("$", "$$") if isinstance(p, str) else _embed(p) for p in self.parts)


def _embed(ref: Ref) -> str:
    # Braced, so that text right after it ("$1" then "0", or ".a" then ".b") is not read as more path.
    return "${" + str(ref)[1:] + "}"


def _step_into(obj: Any, step: Step, where: Ref) -> Any:
    if isinstance(obj, Mapping):
        if step in obj:
            return obj[step]
        fields = ", ".join(repr(k) for k in list(obj)[:20]) or "none"
        raise PlanError(f"{where}: the result of task {where.task_id} has no key {step!r} (keys: {fields})")
    if isinstance(step, int):
        if isinstance(obj, (list, tuple, str)):
            if -len(obj) <= step < len(obj):
                return obj[step]
            raise PlanError(f"{where}: index {step} is out of range; the value has {len(obj)} item(s)")
        raise PlanError(f"{where}: cannot index a {type(obj).__name__} with [{step}]")
    if not step.startswith("_") and hasattr(obj, step):
        return getattr(obj, step)
    names = [n for n in dir(obj) if not n.startswith("_")][:20]
    raise PlanError(
        f"{where}: the result of task {where.task_id} ({type(obj).__name__}) has no field {step!r}"
        + (f" (fields: {', '.join(names)})" if names else "")
    )


def _parse_path(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for m in _STEP_RE.finditer(text):
        name, index, single, double = m.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(single if single is not None else double)
    return tuple(steps)


def _compile_string(text: str) -> str | Ref | Template:
    if "$" not in text:
        return text
    whole = _WHOLE_RE.fullmatch(text)
    if whole is not None:
        return Ref(int(whole.group(1)), _parse_path(whole.group(2)))
    parts: list[str | Ref] = []
    literal: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        literal.append(text[pos : m.start()])
        pos = m.end()
        if m.group(0) == "$$":
            literal.append("$")
            continue
        if any(literal):
            parts.append("".join(literal))
        literal = []
        braced, braced_path = m.groups()
        parts.append(Ref(int(braced), _parse_path(braced_path)))
    literal.append(text[pos:])
    if any(literal):
        parts.append("".join(literal))
    if not parts:
        return ""
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    # The whole argument is one reference (surrounding blanks ignored): pass the object itself.
    refs = [p for p in parts if isinstance(p, Ref)]
    if len(refs) == 1 and all(isinstance(p, Ref) or not p.strip() for p in parts):
        return refs[0]
    return Template(tuple(parts))


def compile_refs(value: Any) -> Any:
    """Replace reference strings inside ``value`` (nested lists, tuples and dict values) by Ref/Template.

    The rule (module docstring): a whole ``"$k"`` or a braced ``${k}`` is a reference; other
    ``$``-digits inside text are text; ``$$`` is a literal ``$``.
    """
    if isinstance(value, str):
        return _compile_string(value)
    if isinstance(value, list):
        return [compile_refs(v) for v in value]
    if isinstance(value, tuple):
        return tuple(compile_refs(v) for v in value)
    if isinstance(value, dict):
        return {k: compile_refs(v) for k, v in value.items()}
    return value


def refs_in(value: Any) -> Iterator[Ref]:
    """Every :class:`Ref` inside a compiled value, in order."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Template):
        yield from (p for p in value.parts if isinstance(p, Ref))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs_in(v)


_SAFE_REPR = reprlib.Repr()
_SAFE_REPR.maxlevel = 8
_SAFE_REPR.maxstring = _SAFE_REPR.maxother = 2_000
_SAFE_REPR.maxlist = _SAFE_REPR.maxtuple = _SAFE_REPR.maxdict = _SAFE_REPR.maxset = 200


def as_text(value: Any, limit: int | None = None) -> str:
    """How a result reads when interpolated into a string: JSON for containers, ``str`` otherwise.

    Never raises, whatever the value: a self-referential or 5,000-deep container, an object whose
    ``__str__``/``__repr__`` raises, or a value JSON cannot encode falls back to a bounded
    ``reprlib`` form, and at worst to ``<unprintable T>``.

    Args:
        value: any object.
        limit: cut the text to about this many characters (None: no cut).
    """
    try:
        if isinstance(value, str):
            text = value
        elif isinstance(value, (dict, list, tuple)):
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (TypeError, ValueError, RecursionError):
                text = _SAFE_REPR.repr(value)
        else:
            text = str(value)
    except Exception:  # a raising __str__/__repr__, or a recursion in one
        try:
            text = _SAFE_REPR.repr(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... [{len(text) - limit} more characters]"
    return text


def resolve(value: Any, values: Mapping[int, Any]) -> Any:
    """Substitute results into a compiled value: objects for whole references, text inside strings.

    Raises:
        PlanError: a referenced task has no result, or a path does not exist in it.
    """
    if isinstance(value, Ref):
        return value.lookup(values)
    if isinstance(value, Template):
        return "".join(p if isinstance(p, str) else as_text(p.lookup(values)) for p in value.parts)
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve(v, values) for v in value)
    if isinstance(value, dict):
        return {k: resolve(v, values) for k, v in value.items()}
    return value


def render(value: Any) -> str:
    """Python-like source text of a compiled value, with references written back as ``$k``."""
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, Template):
        return repr(str(value))
    if isinstance(value, str):
        return repr(value.replace("$", "$$"))
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(render(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {render(v)}" for k, v in value.items()) + "}"
    return repr(value)
