"""BFCL's type rules for Java and JavaScript: values are source text, converted before comparison.

In ``simple_java`` and ``simple_javascript`` every argument is written as the language's source
(``"new ArrayList<>(Arrays.asList(\\"a\\", \\"b\\"))"``, ``"3.5f"``, ``"[1, 2]"``). BFCL converts
the text to a Python value by the documented type and then compares it like a Python value; text
that does not have the type's form stays a string (and then fails the type check). These
functions apply the same conversions (``bfcl_eval/eval_checker/ast_eval/type_convertor/`` of
``bfcl-eval`` 2026.3.23), so verdicts agree with the official checker, including on odd input.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["JAVA_TYPES", "JS_TYPES", "NESTED_TYPES", "java_value", "js_value", "to_source"]

JAVA_TYPES: dict[str, type] = {
    "byte": int,
    "short": int,
    "integer": int,
    "float": float,
    "double": float,
    "long": int,
    "boolean": bool,
    "char": str,
    "Array": list,
    "ArrayList": list,
    "Set": set,
    "HashMap": dict,
    "Hashtable": dict,
    "Queue": list,
    "Stack": list,
    "String": str,
    "any": str,
}
"""The Python type each Java type converts to."""

JS_TYPES: dict[str, type] = {
    "String": str,
    "integer": int,
    "float": float,
    "Bigint": int,
    "Boolean": bool,
    "dict": dict,
    "array": list,
    "any": str,
}
"""The Python type each JavaScript type converts to."""

NESTED_TYPES = ("Array", "ArrayList", "array")
"""Collection types whose items' documented type drives the conversion."""

_INT = re.compile(r"^-?\d+$")
_JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
_JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_JAVA_LONG = re.compile(r"^-?\d+[lL]$")


# -- Java ---------------------------------------------------------------------------------------


def java_value(text: str, kind: str, nested: str | None = None) -> Any:
    """``text`` (Java source) as the Python value BFCL compares, by documented type ``kind``.

    Text not in the type's form is returned unchanged (BFCL's "default to string").

    Raises:
        ValueError: an unknown type.
    """
    if kind not in JAVA_TYPES:
        raise ValueError(f"Unsupported type: {kind}")
    if kind in ("byte", "short", "integer"):
        return int(text) if _INT.match(text) else str(text)
    if kind == "float":
        return float(text[:-1]) if _JAVA_FLOAT.match(text) else str(text)
    if kind == "double":
        return float(text) if _JAVA_DOUBLE.match(text) else str(text)
    if kind == "long":
        return int(text[:-1]) if _JAVA_LONG.match(text) else str(text)
    if kind == "boolean":
        return text == "true" if text in ("true", "false") else str(text)
    if kind == "ArrayList":
        return _java_arraylist(text, nested)
    if kind == "Array":
        return _java_array(text, nested)
    if kind == "HashMap":
        return _java_hashmap(text)
    # char (BFCL's char pattern never matches, so a char stays as written), String, any, and the
    # collections BFCL does not convert.
    return str(text)


def _java_element(text: str, nested: str | None) -> Any:
    if nested in ("char", "String"):
        return text[1:-1]  # drop the quotes
    return java_value(text, nested) if nested else _java_literal(text)


def _java_arraylist(text: str, nested: str | None) -> Any:
    as_list = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text)
    if as_list:
        return [_java_element(part.strip(), nested) for part in as_list.group(1).split(",")]
    adds = re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", text, re.DOTALL)
    if adds:
        return [_java_element(m.strip(), nested) for m in re.findall(r"add\((.+?)\)", adds.group(1))]
    if re.search(r"new\s+ArrayList<\w*>\(\)", text):
        return []
    return text


def _java_array(text: str, nested: str | None) -> Any:
    match = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
    if not match:
        return text
    parts = [p.strip() for p in match.group(1).split(",") if p.strip()]
    return [java_value(p, nested) if nested else _java_literal(p) for p in parts]


def _java_hashmap(text: str) -> Any:
    match = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL)
    if match:
        return {
            key: _java_literal(value.strip())
            for key, value in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", match.group(1))
        }
    if re.search(r"new\s+HashMap<.*?>\s*\(\)", text):
        return {}
    return text


def _java_literal(text: str) -> Any:
    """A Java literal of unknown type: boolean, string, long, float, int, double, else the text."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if _JAVA_LONG.match(text):
        return int(text[:-1])
    if _JAVA_FLOAT.match(text):
        return float(text[:-1])
    return _number_or_text(text)


def _number_or_text(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- JavaScript ---------------------------------------------------------------------------------


def js_value(text: str, kind: str, nested: str | None = None) -> Any:
    """``text`` (JavaScript source) as the Python value BFCL compares, by documented type ``kind``.

    Raises:
        ValueError: an unknown type.
    """
    if kind not in JS_TYPES:
        raise ValueError(f"Unsupported type: {kind}")
    if kind == "String":
        quoted = len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'"
        return text[1:-1] if quoted else str(text)
    if kind == "integer":
        return int(text) if _INT.match(text) else str(text)
    if kind == "float":
        return float(text) if re.match(r"^-?\d+(\.\d+)?$", text) else str(text)
    if kind == "Bigint":
        return int(text[:-1]) if re.match(r"^-?\d+n$", text) else str(text)
    if kind == "Boolean":
        return text == "true" if text in ("true", "false") else str(text)
    if kind == "dict":
        return _js_dict(text.strip())
    if kind == "array":
        return _js_array(text.strip(), nested)
    return str(text)


_JS_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
_JS_1D = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")


def _js_array(code: str, nested: str | None) -> Any:
    try:
        two_d = _JS_2D.match(code)
        if two_d:
            rows = []
            for index, inner in enumerate(re.findall(r"\[(.*?)\]", two_d.group(0))):
                inner = inner.strip()
                if index == 0 and inner.startswith("["):
                    inner = inner[1:]
                rows.append([_js_literal(e.strip()) for e in inner.split(",")])
            return rows
        one_d = _JS_1D.match(code)
        if not one_d:
            return code
        body = one_d.group(1) if one_d.group(1) is not None else one_d.group(2)
        elements = body.strip().split(",") if body is not None and body.strip() else []
        if nested:
            return [
                js_value(e.strip(), nested, "String")
                if e.strip().startswith(("'", '"'))
                else js_value(e.strip(), nested)
                for e in elements
            ]
        return [_js_literal(e.strip()) for e in elements]
    except Exception:  # BFCL keeps the text when its parser fails on it
        return code


def _js_dict(code: str) -> Any:
    if code == "{}":
        return {}
    match = re.match(r"\{(.*?)\}", code)
    if not match:
        return code
    out: dict[str, Any] = {}
    for key, value in re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", match.group(1)):
        key, value = key.strip().strip("'\""), value.strip()
        if value.startswith("[") and value.endswith("]"):
            out[key] = _js_array(value, None)
        elif value.startswith("{") and value.endswith("}"):
            out[key] = _js_dict(value)
        else:
            out[key] = _js_literal(value.strip("'\""))
    return out


def _js_literal(text: str) -> Any:
    """A JavaScript literal of unknown type: boolean, quoted string, int, float, else the text."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return _number_or_text(text)


# -- back to source -----------------------------------------------------------------------------


def to_source(value: Any, spec: dict[str, Any], language: str) -> Any:
    """``value`` written as ``language`` source for a parameter documented by ``spec``.

    The inverse of :func:`java_value` / :func:`js_value` for the values BFCL's possible answers
    hold: an oracle model uses it to answer Java and JavaScript items the way BFCL expects (every
    argument a string of source text). Python values are returned unchanged.
    """
    if language == "java":
        return _java_source(value, spec.get("type", "String"), (spec.get("items") or {}).get("type"))
    if language == "javascript":
        return _js_source(value, spec.get("type", "String"), (spec.get("items") or {}).get("type"))
    return value


def _java_scalar(value: Any, kind: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "long" and isinstance(value, int):
        return f"{value}L"
    if kind == "float" and isinstance(value, int | float):
        return f"{float(value)!r}f"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def _java_literal_source(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return _java_scalar(value, None)


def _java_source(value: Any, kind: str, nested: str | None) -> str:
    if kind == "Array" and isinstance(value, list):
        inner = "String" if nested in (None, "any") else nested
        return f"new {inner}[]{{{', '.join(_java_scalar(v, nested) for v in value)}}}"
    if kind == "ArrayList" and isinstance(value, list):
        quoted = nested in ("String", "char")
        parts = [f'"{v}"' if quoted else _java_scalar(v, nested) for v in value]
        return f"new ArrayList<>(Arrays.asList({', '.join(parts)}))" if parts else "new ArrayList<>()"
    if kind == "HashMap" and isinstance(value, dict):
        puts = " ".join(f'put("{k}", {_java_literal_source(v)});' for k, v in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return _java_scalar(value, kind)


def _js_element(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ", ".join(_js_element(v) for v in value) + "]"
    if isinstance(value, dict):
        return _js_dict_source(value)
    return _js_scalar(value, None)


def _js_dict_source(value: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_js_element(v)}" for k, v in value.items()) + "}"


def _js_scalar(value: Any, kind: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "Bigint" and isinstance(value, int):
        return f"{value}n"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def _js_source(value: Any, kind: str, nested: str | None) -> str:
    if kind == "array" and isinstance(value, list):
        return "[" + ", ".join(_js_element(v) for v in value) + "]"
    if kind == "dict" and isinstance(value, dict):
        return _js_dict_source(value)
    return _js_scalar(value, kind)
