"""The commit and branch a repository is at, read from `.git` files (no `git` process)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories


@dataclass(frozen=True)
class GitState:
    commit: str | None  # None in a repository with no commit yet
    branch: str | None  # None when HEAD is detached


def git_state(start: Path) -> GitState | None:
    """Where the repository holding `start` is; None outside one, or when .git is unreadable.

    A backup only records this, so any surprise (a corrupt .git, a ref format we do not know)
    means "unknown", never an error that would stop an apply.
    """
    try:
        git_dir = _find_git_dir(start.resolve())
        return None if git_dir is None else _read_head(git_dir)
    except (OSError, UnicodeDecodeError):
        return None


def _read_head(git_dir: Path) -> GitState:
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return GitState(head if _SHA.fullmatch(head) else None, None)
    ref = head.removeprefix("ref:").strip()
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return GitState(_resolve_ref(git_dir, ref), branch)


def _find_git_dir(start: Path) -> Path | None:
    """`.git` in `start` or above: a directory, or a file `gitdir: PATH` (worktrees, submodules)."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                return (folder / text.removeprefix("gitdir:").strip()).resolve()
            return None
    return None


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    """The commit a ref names: a loose ref file, else packed-refs; in a linked worktree, refs
    live in the common directory named by `commondir`."""
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    for folder in dict.fromkeys((git_dir, common)):
        loose = folder / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            return value if _SHA.fullmatch(value) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _SHA.fullmatch(sha):
                return sha
    return None
