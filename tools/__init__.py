"""The tool library of orchestra: ready tools, a registry of the standard ones, and the MCP adapter.

Tools that need no configuration are module-level :class:`~orchestra.Tool`s
(:data:`calculator`, :data:`python`); the others are factories (:func:`make_search`,
:func:`make_files`, :func:`make_http_get`, :func:`mcp_tools`). :func:`get_tools` resolves the
names the CLI accepts (``--tools calculator,search``); ``http_get`` and the file tools are not in
it on purpose, since they reach outside the process and need an explicit allow-list or root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from orchestra._tool import Tool
from orchestra.errors import UsageError
from orchestra.tools._calculator import calculator, evaluate
from orchestra.tools._files import Confinement, make_files
from orchestra.tools._http_get import HostAllowList, make_http_get
from orchestra.tools._mcp import MCPPaginationError, mcp_result_value, mcp_tools
from orchestra.tools._python_exec import isolation, make_python, python, run_python
from orchestra.tools._search import BM25Index, Document, load_corpus, make_search, tokenize

__all__ = [
    "DEFAULT_TOOL_NAMES",
    "BM25Index",
    "Confinement",
    "Document",
    "HostAllowList",
    "MCPPaginationError",
    "calculator",
    "default_tools",
    "evaluate",
    "get_tools",
    "isolation",
    "known_tool_names",
    "load_corpus",
    "make_files",
    "make_http_get",
    "make_python",
    "make_search",
    "mcp_result_value",
    "mcp_tools",
    "python",
    "run_python",
    "sample_corpus_path",
    "tokenize",
]

DEFAULT_TOOL_NAMES: tuple[str, ...] = ("calculator", "python", "search")
"""What :func:`default_tools` returns: nothing that touches the network or the user's files."""


def sample_corpus_path() -> Path:
    """The built-in sample corpus: ~20 short factual documents (JSONL) for demos and tests."""
    return Path(str(resources.files("orchestra.tools") / "data" / "sample_corpus.jsonl"))


_REGISTRY: dict[str, Callable[[], Tool]] = {
    "calculator": lambda: calculator,
    "python": lambda: python,
    "search": lambda: make_search(sample_corpus_path()),
}


def known_tool_names() -> list[str]:
    """Names :func:`get_tools` accepts, sorted."""
    return sorted(_REGISTRY)


def get_tools(names: Iterable[str]) -> list[Tool]:
    """The standard tools with these names, in the order given (duplicates dropped).

    Args:
        names: e.g. ``["calculator", "search"]``; surrounding spaces are ignored.

    Raises:
        UsageError: a name is unknown; the message lists the known ones.
    """
    wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in wanted if name not in _REGISTRY]
    if unknown:
        raise UsageError(
            f"unknown tool(s): {', '.join(unknown)}; known tools: {', '.join(known_tool_names())} "
            "(files, http_get and MCP tools are built in code with make_files, make_http_get, mcp_tools)"
        )
    return [_REGISTRY[name]() for name in wanted]


def default_tools() -> list[Tool]:
    """The standard set: ``calculator``, ``python`` and ``search`` over the sample corpus."""
    return get_tools(DEFAULT_TOOL_NAMES)
