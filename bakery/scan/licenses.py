"""Licence names: Debian's DEP-5 short names as SPDX expressions, and an expression's choices.

Debian copyright files name licences with the DEP-5 short names (``GPL-2+``, ``Expat``,
``BSD-3-clause``, ``Perl``, ``GPL-3+ with GCC-exception-3.1 exception``), which are not SPDX
ids. :func:`spdx_from_debian` translates them by the rules of the DEP-5 specification's
"License specification" section, and the result is parsed and canonicalised by
license-expression against the SPDX licence list. A name with no SPDX counterpart
(``public-domain``, a project's own licence) is kept as written, so nothing is lost.

:func:`choices` expands an expression into the sets of licences a user may choose between
(``A OR (B AND C)`` → {A}, {B, C}), with license-expression's boolean algebra.
"""

from __future__ import annotations

import functools
import re

from license_expression import (
    ExpressionError,
    LicenseExpression,
    LicenseWithExceptionSymbol,
    get_spdx_licensing,
)

_SPDX = get_spdx_licensing()

#: DEP-5 short names that differ from the SPDX id beyond a version suffix
_RENAMED = {
    "expat": "MIT",
    "artistic": "Artistic-1.0",
    "perl": "(Artistic-1.0-Perl OR GPL-1.0-or-later)",
    "cc0": "CC0-1.0",
}
#: DEP-5 families spelled differently in SPDX ids (``Zope-2.1`` is ``ZPL-2.1``)
_FAMILY = {"zope": "ZPL"}
#: families whose SPDX ids say ``-only`` or ``-or-later`` (DEP-5 writes ``GPL-2`` / ``GPL-2+``)
_GNU = {"gpl": "GPL", "lgpl": "LGPL", "agpl": "AGPL", "gfdl": "GFDL", "gfdl-niv": "GFDL"}

_NAME = re.compile(
    r"^(?P<family>[A-Za-z][A-Za-z0-9.-]*?)(?:-(?P<version>[0-9][0-9.]*[a-z]?))?(?P<plus>\+)?$"
)
_WITH = re.compile(r"^(?P<licence>\S+)\s+with\s+(?P<exception>\S+)\s+exception$", re.IGNORECASE)
_OPERATOR = re.compile(r"\s*(,?\s+\b(?:or|and)\b\s+|,\s*)\s*", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def spdx_from_debian(synopsis: str) -> str:
    """The SPDX expression a DEP-5 ``License`` synopsis means, or the synopsis unchanged.

    ``GPL-2+`` → ``GPL-2.0-or-later``; ``LGPL-2.1`` → ``LGPL-2.1-only``; ``Expat`` → ``MIT``;
    ``GPL-2+ or Artistic`` → ``GPL-2.0-or-later OR Artistic-1.0``; DEP-5's comma (``A, B``)
    is a conjunction in its own right but reads as AND here. If any operand has no SPDX
    counterpart the whole synopsis is kept as written.
    """
    text = synopsis.strip()
    parts = _OPERATOR.split(text)
    operands, operators = parts[0::2], parts[1::2]
    translated = [_operand(operand) for operand in operands]
    if not text or any(part is None for part in translated):
        return text
    expression = str(translated[0])
    for operator, operand in zip(operators, translated[1:], strict=True):
        word = "OR" if operator.strip(" ,").lower() == "or" else "AND"
        expression += f" {word} {operand}"
    try:
        parsed = _SPDX.parse(expression, validate=True, strict=True)
    except ExpressionError:
        return text
    return str(parsed.render()) if parsed is not None else text


def _operand(name: str) -> str | None:
    """One licence (possibly ``X with Y exception``) as SPDX, or None if it has no id."""
    exception = None
    if match := _WITH.match(name):
        name, exception = match["licence"], match["exception"]
    licence = _licence(name)
    if licence is None:
        return None
    if exception is None:
        return licence
    if _known(exception, is_exception=True):
        return f"{licence} WITH {exception}"
    return None


def _licence(name: str) -> str | None:
    """A DEP-5 short name (with its version and ``+``) as an SPDX id or small expression."""
    if _known(name):
        return name
    match = _NAME.match(name)
    if match is None:
        return None
    family, version, plus = match["family"].lower(), match["version"], bool(match["plus"])
    if family in _RENAMED and version is None:
        return _RENAMED[family]
    if version is not None and "." not in version and not version[-1].isalpha():
        version += ".0"
    if family in _GNU and version is not None:
        prefix = _GNU[family]
        middle = "-no-invariants" if family == "gfdl-niv" else ""
        candidate = f"{prefix}-{version}{middle}-{'or-later' if plus else 'only'}"
    else:
        family_id = _FAMILY.get(family, match["family"])
        candidate = f"{family_id}-{version}" if version else family_id
        if plus:
            candidate += "+"
    return candidate if _known(candidate) else None


def _known(key: str, *, is_exception: bool = False) -> bool:
    """Whether ``key`` is on the SPDX licence (or exception) list, in any case."""
    symbol = _SPDX.known_symbols.get(key) or _SPDX.known_symbols_lowercase.get(key.lower())
    return symbol is not None and bool(symbol.is_exception) == is_exception


def choices(expression: str) -> list[frozenset[str]]:
    """The sets of licences ``expression`` lets a user choose between, each a set of keys.

    ``MIT OR (GPL-2.0-only AND BSD-3-Clause)`` → [{MIT}, {GPL-2.0-only, BSD-3-Clause}];
    ``X WITH Y`` counts as licence X. Text that is not an expression (a licence name with
    spaces) is one choice of its words, so nothing it names is overlooked.
    """
    try:
        parsed = _SPDX.parse(expression, validate=False)
    except ExpressionError:
        parsed = None
    if parsed is None:
        return [frozenset(re.findall(r"[^\s(),]+", expression))]
    normal = _SPDX.dnf(parsed)
    terms = normal.args if isinstance(normal, _SPDX.OR) else (normal,)
    return [frozenset(_keys(term)) for term in terms]


def _keys(term: LicenseExpression) -> list[str]:
    """The licence keys of one conjunction (or a lone symbol) of a DNF expression."""
    keys = []
    for symbol in term.symbols:
        if isinstance(symbol, LicenseWithExceptionSymbol):
            symbol = symbol.license_symbol
        keys.append(str(symbol.key))
    return keys
