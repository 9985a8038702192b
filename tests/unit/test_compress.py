"""Layer compression: diff_ids, deterministic zstd and pigz output, streaming decompression."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import signal
import subprocess
import sys

import pytest

from bakery.errors import ToolError, UserError
from bakery.oci import compress, mediatypes
from bakery.oci.compress import LayerSink, media_type_for, open_decompressed
from bakery.proc import Pipe


def sample(size: int = 6 << 20, seed: int = 7) -> bytes:
    """Compressible but not trivial data: random words."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 9)).hex().encode() for _ in range(4000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=1000)) + b"\n"
    return bytes(out[:size])


def compressed(
    data: bytes, compression: compress.Compression, chunk: int = 1 << 20
) -> tuple[bytes, LayerSink]:
    """``data`` through a LayerSink written in ``chunk``-sized pieces."""
    out = io.BytesIO()
    with LayerSink(out, compression) as sink:
        view = memoryview(data)
        for i in range(0, len(data), chunk):
            sink.write(view[i : i + chunk])
    return out.getvalue(), sink


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_diff_id_is_the_hash_of_the_uncompressed_stream(compression: str) -> None:
    data = sample(1 << 20)
    blob, sink = compressed(data, compression)  # type: ignore[arg-type]
    assert sink.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert sink.uncompressed_size == len(data)
    media_type = media_type_for(compression)  # type: ignore[arg-type]
    assert open_decompressed(io.BytesIO(blob), media_type).read() == data


def test_diff_id_needs_close() -> None:
    sink = LayerSink(io.BytesIO(), "none")
    with pytest.raises(RuntimeError):
        _ = sink.diff_id


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_zstd_output_does_not_depend_on_threads_or_chunking(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample()
    reference, _ = compressed(data, "zstd")
    monkeypatch.setattr(compress, "_threads", lambda: threads)
    for chunk in (512, 1 << 20, 3_333_333):
        blob, _ = compressed(data, "zstd", chunk)
        assert blob == reference, f"threads={threads} chunk={chunk}"
    assert len(reference) < len(data) // 2


@pytest.mark.parametrize("threads", [1, 4])
def test_pigz_output_does_not_depend_on_threads(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample()
    monkeypatch.setattr(compress, "_threads", lambda: 2)
    reference, _ = compressed(data, "gzip")
    monkeypatch.setattr(compress, "_threads", lambda: threads)
    blob, _ = compressed(data, "gzip", 100_000)
    assert blob == reference
    assert gzip.decompress(blob) == data
    assert blob[:4] == b"\x1f\x8b\x08\x00"  # no FNAME flag: no file name stored
    assert blob[4:8] == bytes(4)  # header mtime 0


def test_media_types_and_docker_gzip() -> None:
    assert media_type_for("gzip") == mediatypes.LAYER_GZIP
    assert media_type_for("zstd") == mediatypes.LAYER_ZSTD
    assert media_type_for("none") == mediatypes.LAYER_TAR
    data = sample(100_000)
    blob = gzip.compress(data)
    assert open_decompressed(io.BytesIO(blob), mediatypes.DOCKER_LAYER_GZIP).read() == data
    assert open_decompressed(io.BytesIO(data), mediatypes.DOCKER_LAYER_TAR).read() == data
    with pytest.raises(UserError, match="unsupported layer media type"):
        open_decompressed(io.BytesIO(data), "application/x-foo")


def test_zstd_reader_reads_across_frames() -> None:
    one, _ = compressed(b"first ", "zstd")
    two, _ = compressed(b"second", "zstd")
    reader = open_decompressed(io.BytesIO(one + two), mediatypes.LAYER_ZSTD)
    assert reader.read() == b"first second"


def test_pipe_reports_a_failing_command() -> None:
    argv = ["sh", "-c", "cat >/dev/null; echo boom >&2; exit 3"]
    with pytest.raises(ToolError, match="exit code 3") as info, Pipe(argv, print) as pipe:
        pipe.write(b"x" * 100_000)
    assert "boom" in str(info.value)


def test_pipe_reports_a_missing_tool() -> None:
    with pytest.raises(ToolError, match="not installed") as info:
        Pipe(["bakery-no-such-tool"], io.BytesIO().write)
    assert info.value.hint is not None and "apt-get install" in info.value.hint


def test_pipe_surfaces_a_sink_error() -> None:
    def broken(_: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), Pipe(["cat"], broken) as pipe:
        for _ in range(64):
            pipe.write(b"y" * (1 << 20))


def test_pipe_is_killed_when_the_caller_fails() -> None:
    out = io.BytesIO()
    with pytest.raises(KeyError), Pipe(["cat"], out.write) as pipe:
        pipe.write(b"z")
        raise KeyError("caller")


def test_ctrl_c_reaches_bakery_not_its_compressor() -> None:
    """A terminal's Ctrl-C signals its whole foreground process group. pigz must not get it:
    it would exit at once (status 4) and the interrupt would read as "pigz failed"; bakery
    gets it and stops pigz itself. The child notes the SIGINT, then looks at pigz."""
    script = (
        "import os, signal, sys, time\n"
        "from bakery.proc import Pipe\n"
        "got = []\n"
        "signal.signal(signal.SIGINT, lambda *_: got.append(1))\n"
        "with Pipe(['pigz', '-1'], lambda b: None) as pipe:\n"
        "    pipe.write(os.urandom(1 << 16))\n"
        "    print('ready', flush=True)\n"
        "    while not got:\n"
        "        time.sleep(0.01)\n"
        "    time.sleep(0.3)\n"
        "    print('pigz', pipe._proc.poll(), flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,  # a stand-in for the terminal's foreground process group
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    os.killpg(child.pid, signal.SIGINT)
    stdout, stderr = child.communicate(timeout=30)
    assert stdout == "pigz None\n", stderr  # still running: the interrupt was not its
    assert child.returncode == 0, stderr
