"""Constrained field types: what the registry accepts from outside.

The facts a bake records (:mod:`bakery.registry.facts`) and the service's other request bodies
are built from these, so a limit is declared once: the database's column widths, and printable
text only (no control characters; PostgreSQL refuses NUL).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
#: printable text without control characters (no NUL: PostgreSQL refuses it)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"

Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)]
GitCommit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4,64}$")]
Text20 = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=PRINTABLE)]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)]
Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PRINTABLE)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE)]
Text255 = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=PRINTABLE)]
Text512 = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=PRINTABLE)]
Text1024 = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=PRINTABLE)]
Text2048 = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=PRINTABLE)]
Text4000 = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=PRINTABLE)]
#: a package version: may be empty (a component without one), else printable
Version = Annotated[str, StringConstraints(max_length=255, pattern=PRINTABLE)]
