"""Suite loading: every key read, every mistake reported with file:line:column, before a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync.conversations.select import select_suites
from kathansync.conversations.suite import ExpectSpec, SuiteError, load_suites, mask
from kathansync.errors import ConfigError

HANDLES = ("support", "sales/outbound")

FULL = """\
assistant: support
cases:
  - name: refunds go to a human
    repeat: 3
    pass_rate: 0.67
    turns:
      - user: "Can I get a refund?"
        expect:
          contains: ["human"]
          contains_any: ["transfer", "agent"]
          not_contains: ["within 30 days"]
          matches: "transfer|human"
      - user: "Yes please"
        expect: {not_empty: true}
  - name: defaults
    turns:
      - user: hello
"""


@pytest.fixture
def suites_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conversations").mkdir()
    return tmp_path / "conversations"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path, **kwargs: object) -> list[str]:
    return [str(p) for p in load_suites(folder, HANDLES, **kwargs).problems]  # type: ignore[arg-type]


def test_every_key_is_read(suites_dir: Path) -> None:
    write(suites_dir, "support.yaml", FULL)
    loaded = load_suites(suites_dir, HANDLES)
    assert loaded.problems == []
    (suite,) = loaded.suites
    assert (suite.file, suite.assistant) == ("conversations/support.yaml", "support")
    first, second = suite.cases
    assert (first.name, first.line, first.repeat, first.pass_rate) == (
        "refunds go to a human",
        3,
        3,
        0.67,
    )
    assert [t.user for t in first.turns] == ["Can I get a refund?", "Yes please"]
    assert first.turns[0].expect == ExpectSpec(
        contains=("human",),
        contains_any=("transfer", "agent"),
        not_contains=("within 30 days",),
        matches="transfer|human",
    )
    assert first.turns[1].expect == ExpectSpec(not_empty=True)
    # Defaults: one run, every run must pass, no expectation.
    assert (second.repeat, second.pass_rate, second.line) == (1, 1.0, 15)
    assert second.turns[0].expect == ExpectSpec()


def test_discovery_is_recursive_and_skips_reserved_files(suites_dir: Path) -> None:
    body = "assistant: {}\ncases:\n  - name: a\n    turns: [{{user: hi}}]\n"
    write(suites_dir, "sales/outbound.yml", body.format("sales/outbound"))
    write(suites_dir, "support.yaml", body.format("support"))
    write(suites_dir, "_shared.yaml", "not: a suite")
    write(suites_dir, "notes.txt", "ignored")
    loaded = load_suites(suites_dir, HANDLES)
    assert [s.file for s in loaded.suites] == [
        "conversations/sales/outbound.yml",
        "conversations/support.yaml",
    ]


def test_a_single_string_is_a_one_item_list(suites_dir: Path) -> None:
    write(
        suites_dir,
        "s.yaml",
        "assistant: support\ncases:\n  - name: a\n    turns:\n"
        "      - user: hi\n        expect: {contains: human, not_contains: refund}\n",
    )
    (suite,) = load_suites(suites_dir, HANDLES).suites
    expect = suite.cases[0].turns[0].expect
    assert (expect.contains, expect.not_contains) == (("human",), ("refund",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "assistant: suport\ncases:\n  - name: a\n    turns: [{user: hi}]\n",
            "s.yaml:1:12: error: unknown assistant 'suport': no manifest has it;"
            " did you mean 'support'?",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turns:\n      - user: hi\n"
            "        expect: {matches: '(unclosed'}\n",
            "s.yaml:6:27: error: cases[0].turns[0].expect.matches: not a valid regular"
            " expression: missing ) at position 9",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turnz: [{user: hi}]\n",
            "s.yaml:3:5: error: missing key 'turns' in cases[0]\n"
            "s.yaml:4:5: error: unknown key 'turnz' in cases[0]; did you mean 'turns'?",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turns:\n      - user: hi\n"
            "        expect: {contain: [x]}\n",
            "s.yaml:6:18: error: unknown key 'contain' in cases[0].turns[0].expect;"
            " did you mean 'contains'?",
        ),
        (
            "asistant: support\ncases:\n  - name: a\n    turns: [{user: hi}]\n",
            "s.yaml:1:1: error: missing key 'assistant'\n"
            "s.yaml:1:1: error: unknown key 'asistant'; did you mean 'assistant'?",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    repeat: 0\n    turns: [{user: hi}]\n",
            "s.yaml:4:13: error: cases[0].repeat: expected a number greater than or equal to 1,"
            " got integer 0",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    pass_rate: 1.5\n"
            "    turns: [{user: hi}]\n",
            "s.yaml:4:16: error: cases[0].pass_rate: expected a number less than or equal to 1,"
            " got number 1.5",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    repeat: three\n    turns: [{user: hi}]\n",
            "s.yaml:4:13: error: cases[0].repeat: expected a whole number, got string 'three'",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turns: []\n",
            "s.yaml:4:12: error: cases[0].turns: List should have at least 1 item after"
            " validation, not 0",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turns: [{user: 3}]\n",
            "s.yaml:4:20: error: cases[0].turns[0].user: expected a string, got integer 3",
        ),
        (
            "assistant: support\ncases:\n  - name: a\n    turns: [{user: hi}]\n"
            "  - name: a\n    turns: [{user: hi}]\n",
            "s.yaml:5:11: error: case name 'a' is used twice",
        ),
        (
            "- a list\n",
            "s.yaml:1:1: error: expected a mapping with `assistant` and `cases`, got a list",
        ),
        (
            "",
            "s.yaml:1:1: error: expected a mapping with `assistant` and `cases`, got an empty file",
        ),
        ("assistant: [\n", "s.yaml:2:1: error: invalid YAML: did not find expected node content"),
        (
            "assistant: support\ncases:\n  - name: a\n    turns: [{user: !file p.txt}]\n",
            "s.yaml:4:20: error: !file is not supported in conversation suites",
        ),
    ],
)
def test_every_mistake_names_file_line_and_column(
    suites_dir: Path, text: str, expected: str
) -> None:
    write(suites_dir, "s.yaml", text)
    found = problems(suites_dir)
    assert found == ["conversations/" + line for line in expected.split("\n")]


def test_every_problem_of_every_file_in_one_run(suites_dir: Path) -> None:
    write(suites_dir, "a.yaml", "assistant: nobody\ncases:\n  - name: a\n    turns: [{user: hi}]\n")
    write(suites_dir, "b.yaml", "assistant: support\ncases: []\n")
    found = problems(suites_dir)
    assert len(found) == 2
    assert found[0].startswith("conversations/a.yaml:1:12: error: unknown assistant 'nobody'")
    assert found[1].startswith("conversations/b.yaml:2:8: error: cases: List should have")


def test_variables_are_interpolated_and_become_secrets(suites_dir: Path) -> None:
    write(
        suites_dir,
        "s.yaml",
        "assistant: support\ncases:\n  - name: a\n    turns:\n"
        "      - user: 'my account is ${ACCOUNT}, cost $${literal}'\n"
        "        expect: {not_contains: ['${TOKEN}']}\n",
    )
    loaded = load_suites(
        suites_dir, HANDLES, variables={"ACCOUNT": "AC-991"}, environ={"TOKEN": "tok-secret"}
    )
    turn = loaded.suites[0].cases[0].turns[0]
    assert turn.user == "my account is AC-991, cost ${literal}"
    assert turn.expect.not_contains == ("tok-secret",)
    assert loaded.secrets == {"AC-991", "tok-secret"}


def test_a_missing_variable_is_an_error_at_its_line(suites_dir: Path) -> None:
    write(
        suites_dir,
        "s.yaml",
        "assistant: support\ncases:\n  - name: a\n    turns:\n      - user: '${NOPE}'\n",
    )
    assert problems(suites_dir, environ={}) == [
        "conversations/s.yaml:5:15: error: variable ${NOPE} is not set (set it in the"
        " environment or in kathansync.yaml vars)"
    ]


def test_a_message_never_quotes_an_interpolated_value(suites_dir: Path) -> None:
    write(
        suites_dir,
        "s.yaml",
        "assistant: support\ncases:\n  - name: a\n    turns:\n      - user: hi\n"
        "        expect: {not_empty: '${FLAG}'}\n",
    )
    found = problems(suites_dir, environ={"FLAG": "hunter2"})
    assert len(found) == 1
    assert "hunter2" not in found[0]
    assert "(sensitive)" in found[0]


def test_mask_replaces_longest_values_first() -> None:
    assert mask("key abc and abcdef", {"abc", "abcdef"}) == "key (sensitive) and (sensitive)"


def test_select_checks_targets_and_ids_before_any_request(suites_dir: Path) -> None:
    write(
        suites_dir, "s.yaml", "assistant: support\ncases:\n  - name: a\n    turns: [{user: hi}]\n"
    )
    ids: dict[str, str | None] = {"support": "33df85c1-dce4-4569-bac0-a9c4c70d0486", "sales": None}
    chosen = select_suites(suites_dir, ids)
    assert chosen.ids == {"support": ids["support"]}
    assert select_suites(suites_dir, ids, targets=["sales"]).suites == ()
    with pytest.raises(ConfigError, match="--target suport: no manifest has this handle; did you"):
        select_suites(suites_dir, ids, targets=["suport"])
    with pytest.raises(ConfigError, match="no assistant id for support in this environment"):
        select_suites(suites_dir, {"support": None})
    write(suites_dir, "bad.yaml", "assistant: nobody\n")
    with pytest.raises(SuiteError) as raised:
        select_suites(suites_dir, ids)
    assert str(raised.value).splitlines() == [
        "2 error(s) in conversation suites; nothing was sent:",
        "conversations/bad.yaml:1:1: error: missing key 'cases'",
        "conversations/bad.yaml:1:12: error: unknown assistant 'nobody': no manifest has it",
    ]
