"""Review of issue 16's remote fast paths: the early list walk, the shelf, the pages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from conftest import MakeRepo

COUNT = 60  # past one page of 50: the walk's second round runs on a pool
LOADING = 4500


def test_a_broken_manifest_exits_at_once_while_later_pages_hang(
    make_repo: MakeRepo, kathan_env: Any
) -> None:
    """The walk's second round (pool threads) is in flight when loading fails: the process
    must exit without waiting for those answers (here 8 s each)."""
    ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(COUNT)]
    # Many files: loading takes longer than the first page (the second round is then sent).
    files = {f"assistants/a{n:04}.yaml": f"name: B {n}\n" for n in range(LOADING)}
    files.update({f"assistants/a{n:02}.yaml": f"id: {ids[n]}\nname: A {n}\n" for n in range(COUNT)})
    files["assistants/zz.yaml"] = "id: [unclosed\n"
    make_repo(config="manifests: assistants\n", files=files)
    for n in range(COUNT):
        kathan_env.seed(ids[n], name=f"A {n}")
    kathan_env.inject(
        {"delay_ms": 1, "method": "GET", "path": "/assistants"},  # the first page: at once
        *[{"delay_ms": 8000, "method": "GET", "path": "/assistants"} for _ in range(4)],
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kathansync", "plan"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "no change was sent" in done.stderr
    # The second round was in flight when loading failed (its requests took their faults).
    assert kathan_env.stats()["faults_pending"] < 4
    assert took < 5, f"the process waited {took:.1f} s for a walk nobody reads"
