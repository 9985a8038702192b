"""The step cache: which layer a step produced, keyed by everything the layer depends on.

key = sha256(parent chain id, the step's definition, digests of its input files, locked versions,
SOURCE_DATE_EPOCH). A record points at layer blobs in the OCI store (one per compression) and
keeps what the step resolved (installed packages), so a fully cached bake can still write a lock.
Records are small JSON files written atomically; a record whose blob is gone is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.recipe.lock import LockedPackage
from bakery.result import ScanSummary

CACHE_VERSION = 2
_M = TypeVar("_M", bound=BaseModel)


def cache_key(*parts: Any) -> str:
    """A stable hex key for JSON-serialisable ``parts``."""
    material = json.dumps([CACHE_VERSION, *parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


class LayerRecord(BaseModel):
    """A cached layer: its diff_id, its blobs by compression, what its step installed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diff_id: str
    blobs: dict[str, Descriptor]
    created_by: str
    packages: tuple[LockedPackage, ...] = ()


class TestRecord(BaseModel):
    """Image tests that passed for an image (config digest) and a tests definition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: tuple[str, ...]


class StepCache:
    """Records under ``<store>/cache/``."""

    def __init__(self, root: Path, layout: OCILayout) -> None:
        self.root = root
        self.layout = layout

    def get_layer(self, key: str) -> LayerRecord | None:
        record = self._read(key, LayerRecord)
        if record is None or not all(self.layout.has_blob(d.digest) for d in record.blobs.values()):
            return None
        return record

    def put_layer(self, key: str, record: LayerRecord) -> None:
        self._write(key, record)

    def get_tests(self, key: str) -> TestRecord | None:
        return self._read(key, TestRecord)

    def put_tests(self, key: str, record: TestRecord) -> None:
        self._write(key, record)

    def get_scan(self, key: str) -> ScanSummary | None:
        return self._read(key, ScanSummary)

    def put_scan(self, key: str, record: ScanSummary) -> None:
        self._write(key, record)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _read(self, key: str, model: type[_M]) -> _M | None:
        try:
            return model.model_validate_json(self._path(key).read_bytes())
        except (OSError, ValidationError):
            return None

    def _write(self, key: str, record: BaseModel) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(record.model_dump_json(by_alias=True).encode())
        os.replace(tmp, path)
