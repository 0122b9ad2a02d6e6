"""Which files of the KB folder are read, and why the others are not.

The walk leaves out, each with its reason (``kb build`` prints them):

- symbolic links (to files or folders) whose target is outside the KB folder, unless
  ``retrieval.ingest.follow_external_links``; links to a place inside the folder are left
  out too, since their target is read under its own path (no loops, no double indexing);
- version-control folders (``.git/``, ``.hg/``, ``.svn/``);
- secret-bearing files by name (``.env*``, ``*.pem``, ``*.key``, ``id_rsa*``, credentials
  files, ...; ``retrieval.ingest.skip_secret_files``);
- paths matched by the KB folder's ``.dlgforgeignore`` (``.gitignore`` syntax, through
  ``pathspec``) or by ``retrieval.ingest.ignore``; a ``!pattern`` there re-includes a file
  that only the secret-file list left out;
- other hidden files and folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

IGNORE_FILE = ".dlgforgeignore"
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})
SECRET_FILE_PATTERNS: tuple[str, ...] = (
    ".env", ".env.*", "*.env", ".envrc",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "credentials", "credentials.json", "credentials.yaml", "credentials.yml", "credentials.toml",
    "credentials.ini", "credentials.csv", "*-credentials.json",
    "*_credentials.json", "client_secret*.json", "service-account*.json",
    "secrets.json", "secrets.yaml", "secrets.yml", "secrets.toml",
    ".netrc", "_netrc", ".npmrc", ".pypirc", ".git-credentials", ".pgpass", ".htpasswd",
    ".dockercfg", ".docker/config.json", ".aws/", ".ssh/", ".gnupg/", ".kube/config",
)


@dataclass(frozen=True)
class IngestRules:
    """The settings of ``retrieval.ingest`` that decide which files are read."""

    follow_external_links: bool = False
    skip_secret_files: bool = True
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg: Any) -> "IngestRules":
        """The rules of a config, its ``retrieval`` section or ``retrieval.ingest`` itself."""
        ingest = cfg if hasattr(cfg, "follow_external_links") else \
            getattr(getattr(cfg, "retrieval", cfg), "ingest", None)
        if ingest is None:
            return cls()
        return cls(follow_external_links=bool(ingest.follow_external_links),
                   skip_secret_files=bool(ingest.skip_secret_files),
                   ignore=tuple(ingest.ignore))


@dataclass
class ScanResult:
    """The files to read (``SourceFile``) and every path left out, with its reason.

    Keys of ``skipped`` are paths relative to the KB folder; folders end with ``/``.
    """

    files: list[Any] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class _Matcher:
    """Secret-file names and ignore patterns, with the reason of each match."""

    def __init__(self, root: Path, rules: IngestRules) -> None:
        user = _read_ignore_file(root) + list(rules.ignore)
        secret = list(SECRET_FILE_PATTERNS) if rules.skip_secret_files else []
        self.user = pathspec.GitIgnoreSpec.from_lines(user)
        self.secret = pathspec.GitIgnoreSpec.from_lines(secret)
        # user patterns come last, so their "!pattern" lines can re-include a secret name
        self.combined = pathspec.GitIgnoreSpec.from_lines(secret + user)

    def reason(self, rel: str, is_dir: bool) -> str | None:
        path = rel + "/" if is_dir else rel
        if not self.combined.match_file(path):
            return None
        if self.user.match_file(path):
            return f"ignored by {IGNORE_FILE}"
        return "secret-bearing file name (retrieval.ingest.skip_secret_files)" if not is_dir \
            else "secret-bearing folder (retrieval.ingest.skip_secret_files)"

    def secret_name(self, name: str) -> bool:
        return bool(self.secret.match_file(name))


def _read_ignore_file(root: Path) -> list[str]:
    path = root / IGNORE_FILE
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        from dlgforge_core.errors import KBError

        raise KBError(f"{path}: unreadable ignore file ({type(err).__name__})") from None


def walk(knowledge_dir: Path, rules: IngestRules | None = None) -> ScanResult:
    """Every readable file under ``knowledge_dir`` and every path left out (sorted walk)."""
    from dlgforge_core.kb.ingest import SourceFile

    rules = rules or IngestRules()
    root = Path(knowledge_dir)
    real_root = root.resolve()
    matcher = _Matcher(root, rules)
    result = ScanResult()
    stack: list[tuple[Path, str, frozenset[Path]]] = [(root, "", frozenset({real_root}))]
    while stack:
        folder, prefix, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as err:
            result.skipped[prefix or "./"] = f"unreadable folder ({err.strerror or err})"
            continue
        for entry in entries:  # reversed, so the stack pops them in name order
            rel = prefix + entry.name
            if not prefix and entry.name == IGNORE_FILE:
                continue
            decision = _decide(entry, rel, real_root, ancestors, rules, matcher)
            if isinstance(decision, str):
                result.skipped[rel + ("/" if _is_dir(entry) else "")] = decision
            elif decision is None:
                continue
            elif decision[0] == "dir":
                stack.append((Path(entry.path), rel + "/", ancestors | {decision[1]}))
            else:
                stat = decision[1]
                result.files.append(SourceFile(Path(entry.path), rel, stat.st_size, stat.st_mtime_ns))
    result.files.sort(key=lambda f: f.source)
    return result


def _decide(entry: os.DirEntry, rel: str, real_root: Path, ancestors: frozenset[Path],
            rules: IngestRules, matcher: _Matcher):
    """A reason string (skip), ("dir", real path) to descend, ("file", stat) to read."""
    is_dir = _is_dir(entry)
    if is_dir and entry.name in VCS_DIRS:
        return "version-control folder"
    reason = matcher.reason(rel, is_dir)
    if reason is not None:
        return reason
    if entry.name.startswith("."):
        return "hidden folder" if is_dir else "hidden file"
    target = Path(entry.path)
    if entry.is_symlink():
        try:
            target = target.resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken symbolic link"
        if target.is_relative_to(real_root):
            inside = target.relative_to(real_root).as_posix() or "."
            return (f"symbolic link to {inside} (inside the knowledge folder: not followed, "
                    "its target is scanned on its own)")
        if not rules.follow_external_links:
            return (f"symbolic link leaves the knowledge folder (-> {target}); "
                    "set retrieval.ingest.follow_external_links to read it")
        if target.is_file() and matcher.secret_name(target.name) and rules.skip_secret_files:
            return "symbolic link to a secret-bearing file name"
    if is_dir:
        real = target if entry.is_symlink() else Path(entry.path).resolve()
        if real in ancestors:
            return "symbolic link loop"
        return ("dir", real)
    try:
        stat = entry.stat()  # follows an allowed link
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if not _is_regular(entry):
        return None  # sockets, fifos, devices: never documents, not worth a line
    return ("file", stat)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_regular(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
