"""`make bench`: kathansync's speed against the emulator with injected latency.

Runs the real CLI as a subprocess (start-up included) against `kathansync emulator` in another
process, and prints wall time, requests sent and the ratio to the sequential floor
(requests x latency). Targets and recorded figures: docs/performance.md.
Not a test: a slow machine prints slow numbers, nothing fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_fleet(directory: Path, count: int, changed: int) -> dict[str, Any]:
    """`count` manifests, the first `changed` of them differing from the remote (voice.speed).

    Each remote is the emulator's new assistant with the unchanged manifest laid over it, so
    the only differences are the ones planted here.
    """
    from ruamel.yaml import YAML

    from kathansync.emulator.store import merge_seed, new_assistant

    yaml = YAML(typ="safe")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    assistants: dict[str, Any] = {}
    for n in range(count):
        assistant_id = str(uuid.UUID(int=n + 1, version=4))
        as_remote = yaml.load(MANIFEST.format(n=n, id=assistant_id, speed=1.0))
        assistants[assistant_id] = merge_seed(new_assistant(assistant_id), as_remote)
        speed = 1.1 if n < changed else 1.0
        text = MANIFEST.format(n=n, id=assistant_id, speed=speed)
        (directory / f"bench-{n:04d}.yaml").write_text(text)
    return {"assistants": assistants}


class Emulator:
    """`kathansync emulator` in its own process, so it does not share our CPU time slices.

    Seeded through its control route rather than a state file: with --state every change is
    written and fsync'd before the answer, which would measure the disk, not kathansync.
    """

    def __init__(self, state: dict[str, Any], latency_ms: int, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *KATHANSYNC,
                "emulator",
                "--port",
                str(self.port),
                "--latency-ms",
                str(latency_ms),
                "--api-key",
                API_KEY,
                "--user-id",
                USER_ID,
                *extra,
            ],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.stats()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the emulator did not start") from None
                time.sleep(0.1)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.seed, state["assistants"].values()))

    def seed(self, assistant: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.url}/_emulator/assistants/{assistant['id']}",
            data=json.dumps(assistant).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        for _ in range(100):  # an emulator with --rate-limit may count the seeding too
            try:
                with urllib.request.urlopen(request, timeout=10):
                    return
            except urllib.error.HTTPError as error:
                if error.code != 429:
                    raise
                time.sleep(0.2)
        raise SystemExit("the emulator kept answering 429 while seeding")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=2) as answer:
            stats: dict[str, Any] = json.load(answer)
            return stats

    def requests(self) -> int:
        return int(self.stats()["total"])

    def answered(self, status: int) -> int:
        return int(self.stats().get("statuses", {}).get(str(status), 0))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([*KATHANSYNC, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 2):
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"kathansync {' '.join(args)} failed with {done.returncode}")
    return elapsed, done.stdout


def expect_planted(plan_output: str, changed: int) -> None:
    """A benchmark of the wrong work is worthless: the plan must find exactly the planted ones."""
    found = re.search(r"(\d+) to update", plan_output)
    if not found or int(found.group(1)) != changed:
        raise SystemExit(f"expected {changed} updates, the plan says: {plan_output[-200:]}")


def report(
    name: str,
    seconds: float,
    target: float | None,
    *,
    requests: int | None = None,
    assistants: int = 0,
    latency_ms: int = 0,
) -> None:
    """One line: wall time, the target, requests sent, and how far below the sequential floor.

    The sequential floor is one request per assistant, one after the other: N x latency.
    """
    line = f"{name:<36} {seconds:6.3f} s"
    line += (
        f"   target {target:4.2f} s {'ok  ' if seconds <= target else 'SLOW'}"
        if target
        else " " * 22
    )
    if requests is not None:
        floor = assistants * latency_ms / 1000
        line += f"   {requests:4d} requests   floor {floor:5.2f} s   {floor / seconds:5.1f}x"
    print(line, flush=True)


def emulator_has(flag: str) -> bool:
    """Whether this version's emulator knows `flag` (the rate window came later)."""
    done = subprocess.run([*KATHANSYNC, "emulator", "--help"], capture_output=True, text=True)
    return flag in done.stdout


def rate_limited(
    latency: int, env: dict[str, str], *, limit: int = 100, window: float = 3.0
) -> None:
    """300 PUTs under a limit of `limit` per window, the window scaled from a minute to a few
    seconds: every change must land, at most one 429 once the headers were seen, and the time
    must stay near the floor the limit sets ((requests - 1) // limit whole windows)."""
    if not emulator_has("--rate-window"):
        print(f"{'apply under a rate limit':<36} skipped: the emulator has no --rate-window")
        return
    count = 300
    directory = WORK / "apply-rate-limited"
    emulator = Emulator(
        make_fleet(directory, count, changed=count),
        latency,
        "--rate-limit",
        str(limit),
        "--rate-window",
        str(window),
    )
    try:
        env["KATHAN_API_URL"] = emulator.url
        time.sleep(window)  # a fresh window: the seeding's requests do not count against us
        before, rejected_before = emulator.requests(), emulator.answered(429)
        args = ["apply", "--auto-approve", "--format", "json", "--dir", str(directory)]
        seconds, output = run(args, env)
        requests = emulator.requests() - before
        floor = (requests - 1) // limit * window
        rejected = emulator.answered(429) - rejected_before
        print(
            f"{f'apply {count} under {limit}/{window:g} s':<36} {seconds:6.3f} s"
            f"   {requests:4d} requests   {rejected} x 429   floor {floor:5.2f} s"
            f"   {seconds / floor if floor else 0:4.2f}x floor (target <= 1.10x, <= 1 x 429)",
            flush=True,
        )
        summary = json.loads(output)["summary"]
        if summary.get("applied") != count:
            raise SystemExit(f"the rate-limited apply did not apply everything: {summary}")
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--sizes", default="10,100,1000")
    options = parser.parse_args()
    latency = options.latency_ms
    WORK.mkdir(exist_ok=True)
    env = {**os.environ, "KATHAN_API_KEY": API_KEY, "KATHAN_USER_ID": USER_ID, "NO_COLOR": "1"}
    env.pop("KATHANSYNC_ENV", None)
    env["KATHANSYNC_NO_CACHE"] = "1"  # cold figures; the warm ones below say so

    print(f"kathansync benchmark, {latency} ms emulator latency, {os.cpu_count()} cores")
    samples = [run(["--help"], env)[0] for _ in range(5)]
    report("--help start-up (best of 5)", min(samples), 0.15)

    for size in [int(s) for s in options.sizes.split(",")]:
        directory = WORK / f"fleet-{size}"
        state = make_fleet(directory, size, changed=max(1, size * 5 // 100))
        emulator = Emulator(state, latency)
        try:
            env["KATHAN_API_URL"] = emulator.url
            before = emulator.requests()
            seconds, output = run(["plan", "--dir", str(directory)], env)
            expect_planted(output, max(1, size * 5 // 100))
            target = 2.0 if size == 1000 else None
            report(
                f"plan, {size} assistants (5% changed)",
                seconds,
                target,
                requests=emulator.requests() - before,
                assistants=size,
                latency_ms=latency,
            )
        finally:
            emulator.stop()

    directory = WORK / "apply-100"
    emulator = Emulator(make_fleet(directory, 100, changed=100), latency)
    try:
        env["KATHAN_API_URL"] = emulator.url
        before = emulator.requests()
        seconds, _ = run(["apply", "--auto-approve", "--dir", str(directory)], env)
        report(
            "apply, 100 changes",
            seconds,
            1.5,
            requests=emulator.requests() - before,
            assistants=100,
            latency_ms=latency,
        )
    finally:
        emulator.stop()

    rate_limited(latency, env)

    directory = WORK / "fleet-1000"
    if not directory.exists():
        make_fleet(directory, 1000, changed=50)
    seconds, _ = run(["validate", "--dir", str(directory)], env)
    report("validate, 1000 manifests", seconds, 1.5)
    cached = {k: v for k, v in env.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
    run(["validate", "--dir", str(directory)], cached)  # fills .kathansync/cache
    seconds, _ = run(["validate", "--dir", str(directory)], cached)
    report("validate, 1000 manifests, warm cache", seconds, None)


if __name__ == "__main__":
    main()
