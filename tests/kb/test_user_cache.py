"""dlgforge's folder in the user's cache (compiled encoder models, the language model)."""

from __future__ import annotations

from dlgforge_core.user_cache import user_cache_dir


def test_user_cache_dir_follows_xdg_cache_home_when_absolute(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert user_cache_dir("langid") == tmp_path / "dlgforge" / "langid"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir("openvino") == tmp_path / "home" / ".cache" / "dlgforge" / "openvino"
