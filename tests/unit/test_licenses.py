"""Debian DEP-5 licence names as SPDX expressions, and expression choices."""

from __future__ import annotations

import pytest
from license_expression import get_spdx_licensing

from bakery.scan.licenses import choices, spdx_from_debian


@pytest.mark.parametrize(
    ("debian", "spdx"),
    [
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-3.0+", "GPL-3.0-or-later"),
        ("LGPL-2.1", "LGPL-2.1-only"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("AGPL-3+", "AGPL-3.0-or-later"),
        ("GFDL-1.2+", "GFDL-1.2-or-later"),
        ("GFDL-NIV-1.3", "GFDL-1.3-no-invariants-only"),
        ("Expat", "MIT"),
        ("BSD-2-clause", "BSD-2-Clause"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("Artistic", "Artistic-1.0"),
        ("Artistic-2.0", "Artistic-2.0"),
        ("Perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
        ("Apache-2", "Apache-2.0"),
        ("MPL-1.1", "MPL-1.1"),
        ("Zope-2.1", "ZPL-2.1"),
        ("CC0", "CC0-1.0"),
        ("Zlib", "Zlib"),
        ("ISC", "ISC"),
        ("GPL-3+ with GCC-exception-3.1 exception", "GPL-3.0-or-later WITH GCC-exception-3.1"),
        ("GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0"),
        ("LGPL-2.1+, GPL-2+", "LGPL-2.1-or-later AND GPL-2.0-or-later"),
        ("GPL-2 and BSD-3-clause", "GPL-2.0-only AND BSD-3-Clause"),
    ],
)
def test_dep5_short_names_become_spdx(debian: str, spdx: str) -> None:
    assert spdx_from_debian(debian) == spdx
    assert not get_spdx_licensing().validate(spdx).errors


@pytest.mark.parametrize(
    "kept",
    [
        "public-domain",
        "GPL",
        "permissive",
        "GPL-2+ or public-domain",
        "GPL-2+ with OpenSSL exception",
        "",
    ],
)
def test_names_without_an_spdx_counterpart_are_kept_as_written(kept: str) -> None:
    assert spdx_from_debian(kept) == kept


def test_choices_expand_an_expression() -> None:
    assert sorted(map(sorted, choices("MIT OR (GPL-2.0-only AND BSD-3-Clause)"))) == [
        ["BSD-3-Clause", "GPL-2.0-only"],
        ["MIT"],
    ]
    assert choices("GPL-3.0-or-later WITH GCC-exception-3.1") == [frozenset({"GPL-3.0-or-later"})]
    assert sorted(map(sorted, choices("MIT AND (Zlib OR ISC)"))) == [
        ["ISC", "MIT"],
        ["MIT", "Zlib"],
    ]
    # Debian's lower-case operators parse too
    assert sorted(map(sorted, choices("GPL-2+ or Artistic"))) == [["Artistic"], ["GPL-2+"]]
