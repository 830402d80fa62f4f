"""Cold vs warm load of N generated manifests (issue 16: warm 10,000 in <= 0.5 s, start-up in).

Usage: python scripts/bench_cache.py [N] [RUNS]
Each load is a fresh interpreter (`load_manifests` with `.kathansync/cache`, as `run.py` wires
it); the figure is that process's CPU time (user + system, start-up and imports included), so a
busy shared machine changes it less than wall time. Run 1 is cold (no cache file), the next are
warm (nothing changed); then the same with KATHANSYNC_NO_CACHE for the uncached figure.
Last, where a warm load goes, by phase of the warm lane (load/warm.py), best of RUNS processes.
"""

from __future__ import annotations

import json
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


# The warm lane's phases one by one, in a fresh process: CPU seconds of each, as JSON.
PHASES = """\
import json, sys, time
clock = time.process_time
start = clock()
from pathlib import Path
from kathansync.load import cache, cached, warm
took = {"imports": clock() - start}
repo = Path(sys.argv[1])
directory, folder = repo / "assistants", repo / ".kathansync" / "cache"

def timed(name, work):
    begin = clock()
    result = work()
    took[name] = clock() - begin
    return result

resolver = warm.Resolver({}, None, repo.resolve())
store = timed("open + decode", lambda: cached.open_cache(folder, directory=directory,
    root=resolver.root, env=None, strict=False, environments=None, environ=None))
files = timed("walk", lambda: warm._manifest_files(directory))
loads = cached.WarmLoads(store, resolver, None)
data = timed("read", lambda: [loads.read_manifest(name) for name, _ in files])
digests = timed("hash", lambda: [cache.text_digest(each) for each in data])
entries = timed("check", lambda: [store.lookup(name, digest, loads.dep_digest)
    for (name, _), digest in zip(files, digests)])
timed("replay", lambda: [cached.replayed(entry, handle)
    for entry, (_, handle) in zip(entries, files)])
print(json.dumps(took))
"""


def phases(repo: Path, env: dict[str, str], runs: int) -> str:
    """`name seconds` for each phase of a warm load, each the best of `runs` processes."""
    best: dict[str, float] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-P", "-c", PHASES, str(repo)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        for name, seconds in json.loads(done.stdout).items():
            best[name] = min(seconds, best.get(name, seconds))
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in best.items())


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
        by_phase = phases(repo, env, runs)
    print(
        f"{count} manifests, CPU per process: cold (fills the cache) {cold:.3f} s,"
        f" warm median of {runs} {warm[len(warm) // 2]:.3f} s (best {warm[0]:.3f} s),"
        f" no cache {uncached:.3f} s; cache file {size / 1e6:.1f} MB"
    )
    print(f"a warm load by phase, CPU, best of {runs}: {by_phase}")


if __name__ == "__main__":
    main()
