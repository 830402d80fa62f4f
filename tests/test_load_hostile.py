"""Hostile manifests: every one ends in a file:line problem, fast, bounded, with nothing leaked.

The denial-of-service cases run in a child process with a memory ceiling and a timeout, so a
regression fails the test instead of taking the machine down with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MakeRepo

from kathansync.load import LoadResult, load_manifests

UUID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SECRET = "ghs_0123456789abcdefSECRET"

CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails, not the machine
from kathansync.settings import load_config
from kathansync.errors import KathansyncError
from kathansync.load import load_manifests
root = Path(sys.argv[1])
result = load_manifests(root / "assistants", environ={"BIG": "x" * 500_000})
messages = [str(p) for p in result.problems]
try:
    load_config(root)
except KathansyncError as exc:
    messages.append(str(exc))
# Linux: VmHWM is this process's own peak. ru_maxrss would also count the parent's (pytest's,
# hundreds of MB late in a full run): subprocess vforks, and exec keeps the parent's peak.
status = Path("/proc/self/status")
lines = status.read_text().splitlines() if status.exists() else []
hwm = [line for line in lines if line.startswith("VmHWM:")]
if hwm:
    peak_mb = int(hwm[0].split()[1]) / 1024
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    peak_mb = peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
print(json.dumps({"messages": messages, "peak_mb": peak_mb}))
"""


def write(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="")


def load(repo: Path) -> LoadResult:
    return load_manifests(repo / "assistants", environ={})


def load_bounded(repo: Path) -> list[str]:
    """Load `repo` in a child process: under 5 s and 200 MB, or the test fails."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(repo)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    answer = json.loads(done.stdout)
    assert elapsed < 5, elapsed
    assert answer["peak_mb"] < 200, answer["peak_mb"]
    messages: list[str] = answer["messages"]
    return messages


def merge_bomb(levels: int = 24) -> str:
    lines = ["a0: &a0 {name: x}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# --- Denial of service before any request ---------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["assistants/bomb.yaml", "assistants/_defaults.yaml", "kathansync.yaml"]
)
def test_a_merge_key_bomb_is_refused_fast_at_its_line(repo: Path, where: str) -> None:
    write(repo, where, merge_bomb())
    write(repo, "assistants/ok.yaml", "name: ok\n")
    messages = load_bounded(repo)
    assert any(
        m.startswith(f"{where}:") and "expands to more than" in m and "merge keys" in m
        for m in messages
    ), messages


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "a: &a !file ../big.txt\nb: [" + ", ".join(["*a"] * 4000) + "]\nname: x\n",
            id="one 1 MiB !file aliased 4,000 times",
        ),
        pytest.param(
            "l:\n" + "".join(f"  - !file ../big{i % 3}.txt\n" for i in range(5000)),
            id="5,000 separate !file tags",
        ),
        pytest.param(
            "a: &a ${BIG}\nb: [" + ", ".join(["*a"] * 5000) + "]\n",
            id="a large variable aliased 5,000 times",
        ),
    ],
)
def test_amplification_through_file_and_variables_is_bounded(repo: Path, text: str) -> None:
    for name in ("big.txt", "big0.txt", "big1.txt", "big2.txt"):
        write(repo, name, "y" * (1024 * 1024 - 1))
    write(repo, "assistants/amp.yaml", text)
    messages = load_bounded(repo)
    assert "assistants/amp.yaml:1:1: error: expands to more than 2097152 characters" in "\n".join(
        messages
    ), messages


def test_fifos_and_devices_are_refused_without_reading(repo: Path) -> None:
    os.mkfifo(repo / "assistants" / "fifo.yaml")
    os.mkfifo(repo / "pipe.txt")
    (repo / "zero.txt").symlink_to("/dev/zero")
    write(repo, "assistants/inc.yaml", "name: !file ../pipe.txt\ndescription: !file ../zero.txt\n")
    messages = load_bounded(repo)
    assert "assistants/fifo.yaml: error: not a regular file" in "\n".join(messages)
    assert any(
        m.startswith("assistants/inc.yaml:1:7: error: !file '../pipe.txt'") for m in messages
    )
    assert any("!file '../zero.txt' leaves the repository root" in m for m in messages), messages


def test_a_manifest_symlinked_to_dev_zero_is_refused(repo: Path) -> None:
    (repo / "assistants" / "zero.yaml").symlink_to("/dev/zero")
    [problem] = load(repo).problems
    assert "refusing to read this file" in problem.message


# --- Secrets --------------------------------------------------------------------------------------


def test_nothing_under_git_is_read(repo: Path) -> None:
    write(repo, ".git/config", f"[http]\n\textraheader = AUTHORIZATION: basic {SECRET}\n")
    write(repo, "assistants/a.yaml", "name: x\nsystem_instruction: !file ../.git/config\n")
    (repo / "assistants" / "b.yaml").symlink_to(repo / ".git" / "config")
    result = load(repo)
    shown = "\n".join(str(p) for p in result.problems)
    assert result.manifests == []
    assert SECRET not in shown and "extraheader" not in shown
    assert "assistants/a.yaml:2:21: error: !file '../.git/config' is inside .git/" in shown
    assert "assistants/b.yaml: error: refusing to read this file: its path is inside .git/" in shown


def test_without_kathansync_yaml_the_root_is_the_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    write(project, ".git/HEAD", "ref: refs/heads/main\n")
    write(tmp_path, "outside.txt", "not yours")
    write(project, "inside.txt", "yours")
    write(project, "a.yaml", "name: !file inside.txt\ndescription: !file ../outside.txt\n")
    monkeypatch.chdir(project)
    [problem] = load_manifests(Path("."), environ={}).problems  # `--dir .`
    assert problem.message == f"!file '../outside.txt' leaves the repository root {project}"


# --- Crashes instead of errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name: !file "a\\0b"\n', "a.yaml:1:7: error: !file 'a\\x00b' contains a NUL byte"),
        ("name: !file loop\n", "a.yaml:1:7: error: !file 'loop' cannot be resolved"),
        (
            f"name: !file {'x' * 5000}\n",
            "a.yaml:1:7: error: !file 'xxxxx",  # then "... is longer than 1024 characters"
        ),
        ("name: a\0b\n", "a.yaml:1:8: error: control character U+0000 is not allowed in YAML"),
        ("name: x\nid: \x07\n", "a.yaml:2:5: error: control character U+0007 is not allowed"),
    ],
)
def test_broken_paths_and_bytes_are_problems_at_line_col(
    repo: Path, text: str, expected: str
) -> None:
    (repo / "assistants" / "loop").symlink_to("loop")
    write(repo, "assistants/a.yaml", text)
    [problem] = load(repo).problems
    assert str(problem).startswith(f"assistants/{expected}"), problem


def test_a_five_thousand_character_path_does_not_stop_validation(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"name: !file {'x' * 5000}\n")
    write(repo, "assistants/b.yaml", "name: 1\n")
    problems = load(repo).problems
    assert [p.file for p in problems] == ["assistants/a.yaml", "assistants/b.yaml"]
    assert problems[0].message.endswith("is longer than 1024 characters")


def test_a_manifest_symlinked_outside_the_repository_is_not_followed(repo: Path) -> None:
    (repo / "assistants" / "passwd.yaml").symlink_to("/etc/passwd")
    [problem] = load(repo).problems
    assert problem.message.startswith("refusing to read this file: its path leaves the repository")
    assert "root:" not in str(problem)


def test_a_file_name_that_is_not_utf8_is_a_printable_problem(repo: Path) -> None:
    write(repo, "assistants/ok.yaml", "name: ok\n")
    (repo / os.fsdecode(b"assistants/bad\xff.yaml")).write_text("name: x\n", encoding="utf-8")
    result = load(repo)
    [problem] = result.problems
    assert str(problem).encode("utf-8").startswith(b"assistants/bad\\xff.yaml: error: file name")
    assert [m.handle for m in result.manifests] == ["ok"]


# --- A message without its key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: support-bot\n", "1:5: error: id: expected a UUID like"),
        ("id:\n  staging: support-bot\n", "2:12: error: id.staging: expected a UUID like"),
    ],
)
def test_a_bad_id_names_its_key_path(repo: Path, text: str, expected: str) -> None:
    write(repo, "assistants/badid.yaml", text)
    problems = [str(p) for p in load(repo).errors]
    assert any(p.startswith(f"assistants/badid.yaml:{expected}") for p in problems), problems


def test_a_variable_whose_bytes_are_not_utf8_is_a_problem_at_its_line(repo: Path) -> None:
    # os.environ hands such bytes over as lone surrogates, which no UTF-8 body can carry: the
    # body's size was measured by encoding it, and the load ended in a UnicodeEncodeError.
    write(repo, "assistants/a.yaml", "name: Bot\nfirst_message: Hi ${NAME}\n")
    write(repo, "assistants/b.yaml", "name: Fine\n")
    result = load_manifests(repo / "assistants", environ={"NAME": os.fsdecode(b"\xff\xfe")})
    assert [str(p) for p in result.problems] == [
        "assistants/a.yaml:2:16: error: variable ${NAME} is not UTF-8 text: set it to text"
    ]
    assert [m.handle for m in result.manifests] == ["b"]


def test_a_problem_in_a_file_with_an_explicit_str_tag_keeps_its_line(repo: Path) -> None:
    # `!!str 123` is how YAML says "this is text": ruamel's round-trip loader, which gives the
    # positions, built a TaggedScalar the expansion check refused, and every problem of the
    # file lost its line and column.
    write(repo, "assistants/a.yaml", "phone_number_id: !!str 123\nvoice:\n  speed: fast\n")
    assert [str(p) for p in load(repo).problems] == [
        "assistants/a.yaml:3:10: error: voice.speed: expected a number, got string 'fast'"
    ]
