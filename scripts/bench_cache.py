"""Cold vs warm load of N generated manifests (issue 16: warm 10,000 in <= 0.5 s, start-up in).

Usage: python scripts/bench_cache.py [N] [RUNS]
Each load is a fresh interpreter (`load_manifests` with `.kathansync/cache`, as `run.py` wires
it); the figure is that process's CPU time (user + system, start-up and imports included), so a
busy shared machine changes it less than wall time. Run 1 is cold (no cache file), the next are
warm (nothing changed); then the same with KATHANSYNC_NO_CACHE for the uncached figure.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import TEMPLATE  # the same manifests as bench_load.py

from kathansync.load.cache import CACHE_GLOB

LOAD = """\
import sys
from pathlib import Path
from kathansync.load import load_manifests
repo = Path(sys.argv[1])
result = load_manifests(repo / "assistants", root=repo, cache_dir=repo / ".kathansync" / "cache")
assert not result.problems and len(result.manifests) == int(sys.argv[2]), result.problems[:3]
"""


def cpu_of(repo: Path, count: int, env: dict[str, str]) -> float:
    """CPU seconds of one fresh process loading the manifests."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-P", "-c", LOAD, str(repo), str(count)], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / "kathansync.yaml").write_text("", encoding="utf-8")
        (repo / "assistants").mkdir()
        for i in range(count):
            text = TEMPLATE.format(i=i, id=uuid.uuid4())
            (repo / "assistants" / f"assistant-{i:05d}.yaml").write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
        env["XDG_CACHE_HOME"] = str(repo / "xdg")  # a key of its own, not the user's
        cold = cpu_of(repo, count, env)
        warm = sorted(cpu_of(repo, count, env) for _ in range(runs))
        size = sum(file.stat().st_size for file in (repo / ".kathansync/cache").glob(CACHE_GLOB))
        uncached = cpu_of(repo, count, {**env, "KATHANSYNC_NO_CACHE": "1"})
    print(
        f"{count} manifests, CPU per process: cold (fills the cache) {cold:.3f} s,"
        f" warm median of {runs} {warm[len(warm) // 2]:.3f} s (best {warm[0]:.3f} s),"
        f" no cache {uncached:.3f} s; cache file {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
