"""The pieces `scripts/bench.py` is built from: fleets on disk, the emulator, timed runs, the floor.

Every timed run is a fresh process, reaped with os.wait4 so its own peak memory (ru_maxrss)
comes back with its wall time: no other process can inflate the figure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench"
KATHANSYNC = [sys.executable, "-m", "kathansync"]
API_KEY, USER_ID = "bench-key", "bench-user"

MANIFEST = """\
# Benchmark assistant {n}
id: {id}
name: Bench {n}
description: Benchmark assistant
first_message: Hello!
assistant_speaks_first: true
system_instruction: |
  You are a helpful voice assistant.
  Keep answers short.
voice:
  voice_id: voice-1
  tts_provider: cartesia
  tts_model: sonic-3
  language: en
  speed: {speed}
llm:
  llm_provider: google
  model: gemini-1.5-flash
transcriber:
  stt_provider: deepgram
  stt_model: nova-3
  language: en
speech_settings:
  style: neutral
  responsiveness: balanced
  interruptions: "on"
  emotions: natural
short_term_memory:
  enabled: false
  search_limit: 3
recording:
  enabled: false
  stereo: true
call_actions:
  enabled: true
  allow_hangup: true
  hangup_triggers:
    - bye
  transfer_mode: cold
  auto_hangup_silence_seconds: 30
  webhook_timeout_ms: 3500
"""

# The floor's measured part: what the fastest script could do with the same files, in a process
# of its own (interpreter start-up included, as for kathansync): read every manifest and parse
# it with the fastest YAML parser installed (ryaml, Rust). Nothing is validated, nothing
# compared. bench.py adds one round trip (the latency) for commands that ask the API.
FLOOR_CODE = """
import os, sys
import ryaml
docs = []
for entry in os.scandir(sys.argv[1]):
    if entry.name.endswith(".yaml"):
        with open(entry.path, encoding="utf-8") as handle:
            docs.append(ryaml.loads(handle.read()))
"""


@dataclass(frozen=True)
class Timed:
    """One finished process: wall seconds, its own CPU seconds (user + system, all threads) and
    peak resident memory, what it printed."""

    seconds: float
    cpu: float
    peak_mb: float
    stdout: str
    returncode: int


def timed(command: list[str], env: dict[str, str], cwd: Path) -> Timed:
    """Run `command` to the end; wall time and the child's own ru_maxrss via os.wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode not in (0, 2):  # 2: plan found changes (--detailed-exitcode habit)
        sys.stderr.write(stdout[-2000:] + stderr[-2000:])
        raise SystemExit(f"{' '.join(command[2:])} failed with {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, cpu, usage.ru_maxrss / 1024, stdout, process.returncode)


def kathansync(args: list[str], env: dict[str, str], cwd: Path) -> Timed:
    return timed([*KATHANSYNC, *args], env, cwd)


def floor(fleet: Path, env: dict[str, str]) -> Timed:
    """Reading and parsing `fleet`'s manifests with ryaml, in a fresh process."""
    return timed([sys.executable, "-c", FLOOR_CODE, str(fleet / "assistants")], env, fleet)


def drop_cache(fleet: Path) -> None:
    """Make the next run cold: the manifest cache lives in .kathansync/cache of the root."""
    shutil.rmtree(fleet / ".kathansync" / "cache", ignore_errors=True)


def has_cache(fleet: Path) -> bool:
    folder = fleet / ".kathansync" / "cache"
    return folder.is_dir() and any(folder.iterdir())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_fleet(fleet: Path, count: int, changed: int) -> dict[str, Any]:
    """A repository: kathansync.yaml (so `fleet` is the root, where the cache lives) and
    `count` manifests in assistants/, the first `changed` differing from the remote (voice.speed).

    Each remote is the emulator's new assistant with the unchanged manifest laid over it, so
    the only differences are the ones planted here. Returns the emulator state for them.
    """
    import ryaml

    from kathansync.emulator.store import merge_seed, new_assistant

    shutil.rmtree(fleet, ignore_errors=True)
    (fleet / "assistants").mkdir(parents=True)
    (fleet / "kathansync.yaml").write_text("manifests: assistants\n")
    assistants: dict[str, Any] = {}
    for n in range(count):
        assistant_id = str(uuid.UUID(int=n + 1, version=4))
        as_remote = ryaml.loads(MANIFEST.format(n=n, id=assistant_id, speed=1.0))
        assistants[assistant_id] = merge_seed(new_assistant(assistant_id), as_remote)
        text = MANIFEST.format(n=n, id=assistant_id, speed=1.1 if n < changed else 1.0)
        (fleet / "assistants" / f"bench-{n:05d}.yaml").write_text(text)
    return {"assistants": assistants}


class Emulator:
    """`kathansync emulator` in its own process, so it does not share our CPU time slices.

    `static=True` loads the state from a --state file at start: instant for 10,000 assistants,
    and a plan changes nothing, so the file is never rewritten. Runs that change assistants are
    seeded through the control route instead: with --state every change is written and
    fsync'd before the answer, which would measure the disk, not kathansync.
    """

    def __init__(
        self, state: dict[str, Any], latency_ms: int, *extra: str, static: bool = False
    ) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        options = ["--latency-ms", str(latency_ms), "--api-key", API_KEY, "--user-id", USER_ID]
        self.state_file: Path | None = None
        if static:
            self.state_file = WORK / f"state-{self.url.rsplit(':', 1)[1]}.json"
            self.state_file.write_text(json.dumps(state))
            options += ["--state", str(self.state_file)]
        self.process = subprocess.Popen(
            [*KATHANSYNC, "emulator", "--port", self.url.rsplit(":", 1)[1], *options, *extra],
            stderr=subprocess.DEVNULL,
        )
        self._wait_up()
        if not static:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(self.seed, state["assistants"].values()))

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the emulator did not start") from None
                time.sleep(0.1)

    def seed(self, assistant: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.url}/_emulator/assistants/{assistant['id']}",
            data=json.dumps(assistant).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # control routes are never limited
            return

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=5) as answer:
            stats: dict[str, Any] = json.load(answer)
            return stats

    def counts(self) -> tuple[int, int]:
        """API requests so far, and how many of them were answered 429."""
        stats = self.stats()
        return int(stats["total"]), int(stats.get("statuses", {}).get("429", 0))

    def cpu_seconds(self) -> float:
        """CPU time the emulator has used so far (user + system): when a run's wall time is
        near it, the emulator, not kathansync, is what the run waited for."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def bench_env() -> dict[str, str]:
    """The CLI's environment: credentials for the emulator, and nothing that disables the cache
    (CI or KATHANSYNC_NO_CACHE) or picks another environment."""
    env = {**os.environ, "KATHAN_API_KEY": API_KEY, "KATHAN_USER_ID": USER_ID, "NO_COLOR": "1"}
    for name in ("CI", "KATHANSYNC_NO_CACHE", "KATHANSYNC_ENV", "GITHUB_ACTIONS"):
        env.pop(name, None)
    return env
