"""`make bench`: kathansync against its targets (issues 11 and 16), beside the floor, same run.

Drives the real CLI in a fresh process (start-up included) against `kathansync emulator` in
another process with injected latency. Every measurement is printed on one line with the
floor measured right beside it in the same run, and the ratio: on a shared 2-core machine the
absolute times move from run to run, the ratios much less. The floor is a process that reads
the same files and parses them with the fastest YAML parser installed (ryaml; measured,
scripts/benchkit.py FLOOR_CODE), plus one round trip (the latency) when the command asks the API.
Not a test: it fails nothing; SLOW marks a missed target. Method and figures:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchkit import (
    ROOT,
    WORK,
    Emulator,
    Timed,
    bench_env,
    drop_cache,
    floor,
    has_cache,
    kathansync,
    make_fleet,
    timed,
)

MAX_PARALLELISM = 32  # what kathansync sends at once when the budget allows (remote/pacing.py)
MISSED: list[str] = []
SECTIONS = ("startup", "10k", "1k", "apply", "rate")


def line(
    name: str,
    value: float,
    target: float | None,
    floor_value: float | None,
    *,
    unit: str = "s",
    requests: int | None = None,
    ok: bool | None = None,
    note: str = "",
) -> None:
    """name, value, target, ok/SLOW, requests, floor, ratio to the floor (and a note)."""
    met = (target is None or value <= target) if ok is None else ok
    if not met:
        MISSED.append(name)
    digits = 3 if unit == "s" else 1
    shown = f"{value:7.{digits}f} {unit:<2}"
    aim = f"<= {target:5.{min(digits, 2)}f} {unit:<2}" if target is not None else " " * 11
    verdict = "    " if target is None else "ok  " if met else "SLOW"
    sent = f"{requests:5d} req" if requests is not None else " " * 9
    if floor_value:
        fl = f"{floor_value:6.{digits}f} {unit:<2}"
        ratio = f"{value / floor_value:6.1f}x"
    else:
        fl, ratio = " " * 9, " " * 7
    print(
        f"{name:<38} {shown} {aim} {verdict}  {sent}  floor {fl} {ratio}"
        + (f"  {note}" if note else ""),
        flush=True,
    )


def best(runs: int, make: object) -> Timed:
    """The fastest of `runs` runs: the least disturbed by the other users of the machine."""
    assert callable(make)
    return min((make() for _ in range(runs)), key=lambda timing: timing.seconds)


def expect_updates(output: str, changed: int) -> None:
    """A benchmark of the wrong work is worthless: the plan must find exactly the planted ones."""
    found = re.search(r"(\d+) to update", output)
    if not found or int(found.group(1)) != changed:
        raise SystemExit(f"expected {changed} updates, the plan says: {output[-300:]}")


def startup(env: dict[str, str]) -> None:
    """`--help`, and `validate` of the repository's three examples, cold (no cache: the
    target's line) and warm (the cache the cold run left)."""
    help_run = best(5, lambda: kathansync(["--help"], env, ROOT))
    bare = best(5, lambda: timed([sys.executable, "-c", "pass"], env, ROOT))
    line("--help (best of 5)", help_run.seconds, 0.06, bare.seconds, note="floor: bare python")

    fleet = WORK / "three"
    shutil.rmtree(fleet, ignore_errors=True)
    shutil.copytree(ROOT / "assistants", fleet / "assistants")
    (fleet / "kathansync.yaml").write_text("manifests: assistants\n")

    def cold() -> Timed:
        drop_cache(fleet)
        return kathansync(["validate"], env, fleet)

    validate = best(5, cold)
    parse = best(5, lambda: floor(fleet, env))
    line("validate 3 files (cold, best of 5)", validate.seconds, 0.12, parse.seconds)
    warm = best(5, lambda: kathansync(["validate"], env, fleet))  # the last cold run filled it
    line("validate 3 files (warm, best of 5)", warm.seconds, None, parse.seconds,
         note="(no target of its own: every run after the first; for reference)")  # fmt: skip


def parse_and_trip(fleet: Path, env: dict[str, str], latency: int) -> Timed:
    """The floor of a command that asks the API: reading and parsing (measured) plus one
    round trip (the latency). Not a real GET: serving 10,000 assistants costs the emulator
    seconds of its own, which is the emulator's speed, not a floor of kathansync's."""
    parse = floor(fleet, env)
    return replace(parse, seconds=parse.seconds + latency / 1000)


def cold_and_warm(
    name: str, args: list[str], fleet: Path, env: dict[str, str]
) -> tuple[Timed, Timed]:
    """The same command twice: after deleting the cache, then again with nothing changed."""
    drop_cache(fleet)
    cold = kathansync(args, env, fleet)
    if not has_cache(fleet):
        print(f"  ({name}: no manifest cache was written: warm = cold)", flush=True)
    return cold, kathansync(args, env, fleet)


def ten_thousand(latency: int, env: dict[str, str]) -> None:
    """Validate and plan 10,000 manifests, 10 % changed, cold and warm; peak memory."""
    count, changed = 10_000, 1_000
    fleet = WORK / "fleet-10000"
    state = make_fleet(fleet, count, changed)
    with Emulator(state, latency, static=True) as emulator:
        env = {**env, "KATHAN_API_URL": emulator.url}
        parse = floor(fleet, env)
        cold, warm = cold_and_warm("validate", ["validate"], fleet, env)
        line("validate 10,000 cold", cold.seconds, 2.0, parse.seconds, note=f"CPU {cold.cpu:.2f} s")
        line("validate 10,000 warm", warm.seconds, 0.5, parse.seconds)

        trip = parse_and_trip(fleet, env, latency)
        before, cpu = emulator.counts()[0], emulator.cpu_seconds()
        plan_cold, plan_warm = cold_and_warm("plan", ["plan"], fleet, env)
        requests = (emulator.counts()[0] - before) // 2
        cpu = (emulator.cpu_seconds() - cpu) / 2
        for timing in (plan_cold, plan_warm):
            expect_updates(timing.stdout, changed)
        line("plan 10,000 cold (10 % changed)", plan_cold.seconds, 3.0, trip.seconds,
             requests=requests,
             note=f"CPU {plan_cold.cpu:.2f} s; emulator CPU {cpu:.2f} s a plan")  # fmt: skip
        line("plan 10,000 warm", plan_warm.seconds, 1.5, trip.seconds, requests=requests)
    peak = max(cold.peak_mb, warm.peak_mb, plan_cold.peak_mb, plan_warm.peak_mb)
    line("peak memory at 10,000 (max RSS)", peak, 200, trip.peak_mb, unit="MB")


def one_thousand(latency: int, env: dict[str, str]) -> None:
    """Plan 1,000 (10 % changed) cold and warm; then pages of 50 under a 1,000/min budget."""
    count, changed = 1_000, 100
    fleet = WORK / "fleet-1000"
    state = make_fleet(fleet, count, changed)
    with Emulator(state, latency, static=True) as emulator:
        env = {**env, "KATHAN_API_URL": emulator.url}
        trip = parse_and_trip(fleet, env, latency)
        before, _ = emulator.counts()
        cold, warm = cold_and_warm("plan", ["plan"], fleet, env)
        requests = (emulator.counts()[0] - before) // 2
        expect_updates(warm.stdout, changed)
        line("plan 1,000 cold", cold.seconds, None, trip.seconds, requests=requests,
             note="(no target of its own; for reference)")  # fmt: skip
        line("plan 1,000 warm", warm.seconds, 0.5, trip.seconds, requests=requests)

    paged = ["--max-page-size", "50", "--rate-limit", "1000", "--rate-window", "60"]
    with Emulator(state, latency, *paged, static=True) as emulator:
        env = {**env, "KATHAN_API_URL": emulator.url}
        trip = parse_and_trip(fleet, env, latency)
        before, _ = emulator.counts()
        drop_cache(fleet)
        plan = kathansync(["plan"], env, fleet)
        requests = emulator.counts()[0] - before
        expect_updates(plan.stdout, changed)
        line("plan 1,000, pages of 50 (cold)", plan.seconds, 1.5, trip.seconds,
             requests=requests)  # fmt: skip
        share = 100 * requests / 1000
        line("  its share of a 1,000/min budget", share, 5.0, None, unit="%",
             ok=share < 5.0, note=f"{share:.1f} % ({requests} of 1,000 requests)")  # fmt: skip


def apply_changes(latency: int, env: dict[str, str]) -> None:
    """Apply 1,000 changes; the API sends no limit, so the budget allows full parallelism."""
    count = 1_000
    fleet = WORK / "apply-1000"
    with Emulator(make_fleet(fleet, count, changed=count), latency) as emulator:
        env = {**env, "KATHAN_API_URL": emulator.url}
        trip = parse_and_trip(fleet, env, latency)
        # The floor adds the PUTs: rounds of MAX_PARALLELISM requests, one latency each.
        puts = math.ceil(count / MAX_PARALLELISM) * latency / 1000
        before, _ = emulator.counts()
        cpu = emulator.cpu_seconds()
        run = kathansync(["apply", "--auto-approve", "--format", "json"], env, fleet)
        cpu = emulator.cpu_seconds() - cpu
        requests = emulator.counts()[0] - before
        applied = json.loads(run.stdout)["summary"].get("applied")
        line("apply 1,000 changes", run.seconds, 3.0, trip.seconds + puts, requests=requests,
             ok=run.seconds <= 3.0 and applied == count,
             note=f"applied {applied}; floor: + {puts:.2f} s of PUTs at 32;"
             f" CPU {run.cpu:.2f} s, emulator CPU {cpu:.2f} s")  # fmt: skip


def rate_limited(latency: int, env: dict[str, str], limit: int, window: float) -> None:
    """300 PUTs under `limit` per `window` seconds (a minute scaled down): 0 failures, at most
    one 429, within 1.1x the floor the limit sets: (requests - 1) // limit whole windows."""
    count = 300
    fleet = WORK / "apply-rate-limited"
    extra = ["--rate-limit", str(limit), "--rate-window", str(window)]
    with Emulator(make_fleet(fleet, count, changed=count), latency, *extra) as emulator:
        env = {**env, "KATHAN_API_URL": emulator.url}
        before, rejected_before = emulator.counts()
        run = kathansync(["apply", "--auto-approve", "--format", "json"], env, fleet)
        total, rejected_total = emulator.counts()
    requests, rejected = total - before, rejected_total - rejected_before
    applied = json.loads(run.stdout)["summary"].get("applied")
    limit_floor = (requests - 1) // limit * window
    # What a window costs above its length (start-up, the whole-second X-RateLimit-Reset, the
    # round trip that opens the next window) does not grow with the window: projected to the
    # real 60-s window, the same overhead is the ratio a user sees. The verdict uses that.
    at_minute = limit_floor * 60 / window
    projected = (run.seconds - limit_floor + at_minute) / at_minute
    line(f"apply 300 under {limit}/{window:g} s", run.seconds, 1.1 * limit_floor, limit_floor,
         requests=requests, ok=projected <= 1.1 and rejected <= 1 and applied == count,
         note=f"{rejected} x 429 (<= 1), applied {applied};"
         f" {projected:.2f}x at 60-s windows (<= 1.10x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate-window", type=float, default=3.0)
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); the default is all of them",
    )
    options = parser.parse_args()
    only = set(options.only or SECTIONS)
    started = time.perf_counter()
    WORK.mkdir(exist_ok=True)
    env = bench_env()
    # Bytecode, as a user's install has it (pip compiles a wheel at install, even under
    # PYTHONDONTWRITEBYTECODE): without it, a sandbox that sets that variable compiles every
    # kathansync module from source in every measured run (validate 3 files: 40 ms of CPU).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kathansync")], check=True)
    print(
        f"kathansync bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" {os.cpu_count()} cores, Python {sys.version.split()[0]},"
        f" emulator latency {options.latency_ms} ms; ratio = value / floor",
        flush=True,
    )
    if "startup" in only:
        startup(env)
    if "10k" in only:
        ten_thousand(options.latency_ms, env)
    if "1k" in only:
        one_thousand(options.latency_ms, env)
    if "apply" in only:
        apply_changes(options.latency_ms, env)
    if "rate" in only:
        rate_limited(options.latency_ms, env, limit=100, window=options.rate_window)
    print(
        f"{len(MISSED)} target(s) missed{': ' + ', '.join(MISSED) if MISSED else ''};"
        f" bench took {time.perf_counter() - started:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
