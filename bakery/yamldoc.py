"""YAML documents (recipes, policies) read with every problem reported as ``file:line:col``.

The YAML is composed into nodes (PyYAML's safe loader) and turned into plain values here, so
that each value's position is remembered: a :class:`SourceMap` maps a path into the document,
such as ``("steps", 2, "copy", "src")``, to where its key and its value are written. YAML
errors, duplicate keys, impossible dates and pydantic validation errors are all reported at
those positions, as a :class:`~bakery.errors.DocumentError` of the caller's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bakery.errors import DocumentError

#: A path into a document: mapping keys and sequence indexes.
Loc = tuple[str | int, ...]

_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

#: What a pydantic type error expected, by error type.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the recipe file."""

    line: int
    col: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        """The position of a PyYAML mark (which counts from 0)."""
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class _Entry:
    """Where one value of the document is written."""

    key: Position | None  # the mapping key naming it; None for sequence items and the root
    value: Position
    scalar: bool
    plain: str | None  # the source text of a plain (unquoted) scalar, else None


@dataclass(frozen=True)
class SourceMap:
    """Positions of the values of a recipe document, by their path."""

    entries: Mapping[Loc, _Entry]

    def position(self, loc: Loc, *, at_value: bool = False) -> Position:
        """Where ``loc`` is written: its key, else its nearest ancestor that is written.

        With ``at_value`` a scalar's own position is preferred to its key's.
        """
        for end in range(len(loc), -1, -1):
            entry = self.entries.get(loc[:end])
            if entry is None:
                continue
            if entry.key is None or (at_value and end == len(loc) and entry.scalar):
                return entry.value
            return entry.key
        return Position(1, 1)

    def plain_text(self, loc: Loc) -> str | None:
        """The source text of the plain scalar at ``loc``, if that is what is written there."""
        entry = self.entries.get(loc)
        return entry.plain if entry is not None else None

    def document_path(self, loc: tuple[Any, ...], *, keep_last: bool = False) -> Loc:
        """A pydantic error location as a path into the document.

        Pydantic puts a union's tag (here the kind key: ``run``, ``copy``, ...) into the
        location before the member's fields. A tag that is not written in the document is
        dropped; one that names a sibling key (``("steps", 0, "run", "network")``) is dropped
        when the next part is found beside it rather than under it. With ``keep_last`` the
        final part is kept regardless (it names a missing key).
        """
        path: Loc = ()
        for index, part in enumerate(loc):
            here = (*path, part)
            if here in self.entries:
                if not self._names_sibling(here, loc[index + 1 : index + 2]):
                    path = here
            elif keep_last and index == len(loc) - 1:
                path = here
        return path

    def _names_sibling(self, here: Loc, following: tuple[Any, ...]) -> bool:
        """True when ``following`` is written beside ``here``, not under it."""
        return (
            bool(following)
            and (*here, *following) not in self.entries
            and (*here[:-1], *following) in self.entries
        )


def compose(
    text: str, path: Path, *, error: type[DocumentError], kind: str
) -> tuple[dict[str, Any], SourceMap]:
    """The top-level mapping of ``text`` as plain values, and where each value is written.

    ``kind`` names the document in messages ("recipe", "policy"); problems are raised as
    ``error``, positioned in ``path``.
    """
    try:
        root = _compose(text)
        if root is None:
            raise error(
                f"the {kind} is empty", path=path, hint="start with apiVersion: bakery.dev/v1"
            )
        if not isinstance(root, yaml.MappingNode):
            where = Position.of(root.start_mark)
            second = "name" if kind == "recipe" else "kind"
            raise error(
                f"a {kind} must be a mapping (apiVersion: ..., {second}: ..., ...)",
                path=path,
                line=where.line,
                col=where.col,
            )
        builder = _Builder(path, error)
        data = builder.build(root, (), None)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path, error) from exc
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", path=path) from exc
    return data, SourceMap(builder.entries)


def _compose(text: str) -> yaml.Node | None:
    """The document's node tree: by libyaml when PyYAML has it (15 times faster), else, or when
    libyaml refuses the text, by PyYAML's own parser, whose errors are the ones reported."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path, error: type[DocumentError]) -> DocumentError:
    """An error at the position of a PyYAML scanner, parser or constructor error."""
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        message += f" ({exc.context})"
    if mark is None:
        return error(message, path=path)
    where = Position.of(mark)
    return error(message, path=path, line=where.line, col=where.col)


class _Builder:
    """Builds plain values from YAML nodes (with safe_load's scalars), recording positions."""

    def __init__(self, path: Path, error: type[DocumentError]) -> None:
        self.path = path
        self.error = error
        self.entries: dict[Loc, _Entry] = {}
        self._scalars = yaml.SafeLoader("")
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()

    def build(self, node: yaml.Node, loc: Loc, key: Position | None) -> Any:
        """The value of ``node`` at ``loc`` (an alias shares the value of its anchor)."""
        scalar = isinstance(node, yaml.ScalarNode)
        # a plain scalar has no style: None from PyYAML's parser, "" from libyaml's
        plain = node.value if isinstance(node, yaml.ScalarNode) and not node.style else None
        self.entries[loc] = _Entry(key, Position.of(node.start_mark), scalar, plain)
        if id(node) in self._built:
            return self._built[id(node)]
        if id(node) in self._building:
            raise self._error(node.start_mark, "an alias refers to the collection it is in")
        self._building.add(id(node))
        value = self._value(node, loc)
        self._building.discard(id(node))
        self._built[id(node)] = value
        return value

    def _value(self, node: yaml.Node, loc: Loc) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self._scalars.construct_object(node, deep=True)
            except ValueError as exc:  # a date that does not exist: 2025-02-30
                what = "date" if node.tag == _TIMESTAMP_TAG else "value"
                raise self._error(node.start_mark, f"invalid {what} {node.value}: {exc}") from exc
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            return [self.build(item, (*loc, i), None) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return self._mapping(node, loc)
        raise self._error(node.start_mark, f"unsupported YAML tag {node.tag}")

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            where = Position.of(key_node.start_mark)
            if key in seen:
                raise self._error(
                    key_node.start_mark,
                    f"duplicate key '{key}' (first at line {seen[key].line})",
                )
            seen[key] = where
            result[key] = self.build(value_node, (*loc, key), where)
        return result

    def _key(self, node: yaml.Node) -> str:
        """A mapping key, which must be a string."""
        if node.tag == _MERGE_TAG:
            raise self._error(node.start_mark, "merge keys (<<) are not supported")
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node.start_mark, "a mapping key must be a plain string")
        key = self._scalars.construct_object(node, deep=True)
        if not isinstance(key, str):
            raise self._error(
                node.start_mark, f'a mapping key must be a string (quote it: "{node.value}")'
            )
        return key

    def _error(self, mark: yaml.Mark, message: str) -> DocumentError:
        where = Position.of(mark)
        return self.error(message, path=self.path, line=where.line, col=where.col)


# --- pydantic errors as sentences ----------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """One validation error, as a document path, a position and a sentence."""

    loc: Loc
    where: Position
    message: str

    def explains(self, other: _Problem) -> bool:
        """True when this problem is inside ``other``'s value (and so may be its cause)."""
        return len(self.loc) > len(other.loc) and self.loc[: len(other.loc)] == other.loc


def validation_error(
    exc: ValidationError, source: SourceMap, path: Path, error: type[DocumentError]
) -> DocumentError:
    """The first problem in document order, and how many more there are.

    A problem with a value whose parts have problems too (a list that is "too short" because
    its items were rejected) is left out: its parts say what is wrong.
    """
    found = [_problem(error, source) for error in exc.errors()]
    problems = sorted(
        (problem for problem in found if not any(other.explains(problem) for other in found)),
        key=lambda problem: (problem.where.line, problem.where.col),
    )
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        more = len(problems) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error(message, path=path, line=first.where.line, col=first.where.col)


def _problem(error: ErrorDetails, source: SourceMap) -> _Problem:
    """Turn one pydantic error into a positioned sentence."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    if "loc" in ctx:
        loc = tuple(ctx["loc"])
    else:
        loc = source.document_path(error["loc"], keep_last=kind == "missing")
    if kind == "unknown_key":
        key_loc = (*loc, ctx["key"])
        message = f"unknown key '{ctx['key']}'{_within(loc)} (allowed: {ctx['allowed']})"
        return _Problem(key_loc, source.position(key_loc), message)
    if kind == "extra_forbidden" and loc:
        message = f"unknown key '{loc[-1]}'{_within(loc[:-1])}"
        return _Problem(loc, source.position(loc), message)
    if kind == "missing":
        message = f"missing required key '{loc[-1]}'{_within(loc[:-1])}"
        return _Problem(loc, source.position(loc), message)
    prefix = f"{_dotted(loc)}: " if loc else ""
    message = prefix + _sentence(error, loc, source)
    return _Problem(loc, source.position(loc, at_value=True), message)


def _sentence(error: ErrorDetails, loc: Loc, source: SourceMap) -> str:
    """What is wrong with the value at ``loc``, without saying where."""
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    plain = source.plain_text(loc)
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_shown(value, plain)}"
        if kind == "string_type" and plain is not None and value is not None:
            label = f"{loc[-1]}: " if loc and isinstance(loc[-1], str) else ""
            message += f' (quote it: {label}"{plain}")'
        return message
    if kind == "literal_error":
        return f"expected {ctx['expected']}, got {_shown(value, plain)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item{'s' if ctx['min_length'] > 1 else ''}"
    text = error["msg"]
    return text[:1].lower() + text[1:]


def _shown(value: Any, plain: str | None) -> str:
    """A value as written (for a plain scalar) or described (for anything else)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing" if plain == "" else "null"
    if isinstance(value, str):
        return repr(value)
    return plain if plain is not None else str(value)


def _dotted(loc: Loc) -> str:
    """``("steps", 2, "copy", "src")`` as ``steps[2].copy.src``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _within(loc: Loc) -> str:
    """`` in steps[2].copy`` for a nested location, nothing at the top level."""
    return f" in {_dotted(loc)}" if loc else ""
