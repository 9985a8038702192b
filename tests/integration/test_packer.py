"""The Packer driver against Debian's real packer 1.6.6: parsing, a real build, failures.

The qemu builder booting a baked disk runs in test_disk.py (it needs the vm-base bake).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from bakery.disk.packer import parse_machine_readable, run_packer
from bakery.errors import ToolError

STREAM = """\
1795771782,,ui,say,==> null: Running local shell script: /tmp/packer-shell3988640945
1795771782,null,artifact-count,2
1795771782,null,artifact,0,builder-id,fnoeding.null
1795771782,null,artifact,0,id,Null
1795771782,null,artifact,0,string,Did not export anything. This is the null builder
1795771782,null,artifact,0,files-count,0
1795771782,null,artifact,0,end
1795771782,null,artifact,1,builder-id,packer.post-processor.artifice
1795771782,null,artifact,1,id,
1795771782,null,artifact,1,string,Created artifact from files: a%!(PACKER_COMMA)b.txt
1795771782,null,artifact,1,files-count,1
1795771782,null,artifact,1,file,0,a%!(PACKER_COMMA)b.txt
1795771782,null,artifact,1,end
1795772041,qemu,error,Failed to shutdown
"""


def require_packer() -> None:
    if shutil.which("packer") is None:
        pytest.fail("packer is missing: apt-get install -y packer (or `make setup`)")


def test_machine_readable_stream_is_parsed() -> None:
    artifacts, errors = parse_machine_readable(STREAM)
    assert [(a.build, a.index, a.builder_id) for a in artifacts] == [
        ("null", 0, "fnoeding.null"),
        ("null", 1, "packer.post-processor.artifice"),
    ]
    assert artifacts[0].id == "Null" and artifacts[0].files == ()
    assert artifacts[1].files == ("a,b.txt",)
    assert artifacts[1].description == "Created artifact from files: a,b.txt"
    assert errors == ["Failed to shutdown"]


def null_template(command: str) -> dict[str, object]:
    return {
        "builders": [{"type": "null", "communicator": "none"}],
        "provisioners": [{"type": "shell-local", "inline": [command]}],
        "post-processors": [{"type": "artifice", "files": ["made.txt"]}],
    }


def test_real_packer_build_records_artifacts_and_digests(tmp_path: Path) -> None:
    require_packer()
    run = run_packer(null_template("echo baked > made.txt"), tmp_path / "w", timeout=120)
    assert run.builder_type == "null"
    ids = [a.builder_id for a in run.artifacts]
    assert ids == ["fnoeding.null", "packer.post-processor.artifice"]
    (made,) = run.files
    assert made.path == "made.txt" and made.size == len("baked\n")
    assert made.digest == "sha256:" + hashlib.sha256(b"baked\n").hexdigest()


def test_a_failing_packer_build_is_a_clear_error(tmp_path: Path) -> None:
    require_packer()
    with pytest.raises(ToolError, match="packer build` failed") as info:
        run_packer(null_template("echo broken >&2; exit 7"), tmp_path / "w", timeout=120)
    assert "non-zero exit status: 7" in info.value.message


def test_missing_packer_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="'packer' is not installed") as info:
        run_packer(null_template("true"), tmp_path / "w", timeout=10)
    assert "apt-get install -y packer" in info.value.one_line()
