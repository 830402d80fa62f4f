"""RENDER: text, json and markdown plans and apply results, checked against golden files.

Regenerate the golden files after an intended change with
`KATHANSYNC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py`: every test whose golden
file was rewritten fails saying so, so review the diff, then run again without the variable.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from kathansync.models import Manifest
from kathansync.plan import Action, Change, FingerprintKeys, make_plan
from kathansync.render import (
    MARKDOWN_LIMIT,
    render_json,
    render_outcomes,
    render_plan,
)
from kathansync.textdiff import char_delta, line_diff, shorten, word_diff

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("KATHANSYNC_UPDATE_GOLDEN") == "1"
KEYS = FingerprintKeys(salt="salt", secret=b"key")
API = "https://api.staging.kathan.tech"

SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SALES_ID = "5b0f8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
LEGACY_ID = "9fca7d10-2b3c-4d5e-9f60-718293a4b5c6"

PROMPT = """You are Acme's support assistant.
Be brief.
Confirm the caller's name before anything else.
Never promise refunds; offer a callback instead.
Speak in the caller's language.
End every call politely."""
PROMPT_NEW = PROMPT.replace("Be brief.", "Be brief: callers are listening, not reading.").replace(
    "End every call politely.", "End every call politely.\nThank them for calling Acme."
)
GREETING = (
    "Hello, you have reached Acme support. Calls are recorded for quality and training "
    "purposes. How can I help you today?"
)
GREETING_NEW = GREETING.replace("Acme support", "Acme Corp support").replace(
    "today", "this evening"
)


def utf16_len(text: str) -> int:
    """What GitHub measures a comment in (JavaScript's `.length`)."""
    return len(text.encode("utf-16-le")) // 2


def assert_golden(
    name: str, text: str, *, update: bool = UPDATE_GOLDEN, folder: Path = GOLDEN
) -> None:
    path = folder / name
    if update and (not path.exists() or path.read_text(encoding="utf-8") != text):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        # A rewritten golden file proves nothing until someone has read its diff.
        pytest.fail(f"rewrote {path}: review the diff, then run without KATHANSYNC_UPDATE_GOLDEN")
    assert path.read_text(encoding="utf-8") == text, f"differs from {path}; see the docstring"


def test_updating_a_golden_file_fails_the_test_that_rewrote_it(tmp_path: Path) -> None:
    (tmp_path / "plan.txt").write_text("old\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"rewrote .*plan\.txt: review the diff"):
        assert_golden("plan.txt", "new\n", update=True, folder=tmp_path)
    assert (tmp_path / "plan.txt").read_text(encoding="utf-8") == "new\n"
    assert_golden("plan.txt", "new\n", update=True, folder=tmp_path)  # unchanged: nothing to review
    with pytest.raises(AssertionError, match="differs from"):
        assert_golden("plan.txt", "newer\n", update=False, folder=tmp_path)


def sample_plan() -> dict[str, Any]:
    """The plan of the README: one create, one update with every kind of field, one delete."""
    support = Manifest(
        "support",
        "assistants/support.yaml",
        SUPPORT_ID,
        {
            "name": "Acme Support",
            "first_message": GREETING_NEW,
            "system_instruction": PROMPT_NEW,
            "voice": {"speed": 1.05},
            "call_actions": {"transfer_mode": "warm", "webhook_url": "https://hooks/NEW-T0KEN"},
        },
        sensitive=frozenset({"call_actions.webhook_url"}),
        origins={"call_actions.transfer_mode": "assistants/_defaults.yaml"},
    )
    same = Manifest("sales", "assistants/sales.yaml", SALES_ID, {"name": "Acme Sales"})
    new = Manifest("newline", "assistants/newline.yaml", None, {"name": "Acme New"})
    remotes = {
        SUPPORT_ID: {
            "id": SUPPORT_ID,
            "name": "Acme Support",
            "first_message": GREETING,
            "system_instruction": PROMPT,
            "voice": {"voice_id": "v1", "speed": 1},
            "call_actions": {"transfer_mode": "cold", "webhook_url": "https://hooks/OLD-T0KEN"},
        },
        SALES_ID: {"id": SALES_ID, "name": "Acme Sales"},
    }
    legacy = Change("legacy", None, LEGACY_ID, Action.DELETE, name="Old assistant")
    plan = make_plan(
        [support, same, new],
        remotes,
        api_url=API,
        keys=KEYS,
        environment="staging",
        deletes=[legacy],
    )
    return plan.to_dict()


def sample_result() -> dict[str, Any]:
    outcomes = [
        ("support", SUPPORT_ID, "update", "applied", None, ["voice.speed", "name"], None),
        ("newline", "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "create", "created", None, [], None),
        ("quiet", SALES_ID, "no-op", "unchanged", None, [], None),
        (
            "sales",
            SALES_ID,
            "update",
            "stale",
            "sales: stale plan: the remote changed since the plan (voice.speed); "
            "nothing was sent for it. Run plan again.",
            ["voice.speed"],
            None,
        ),
        ("after-hours", None, "update", "failed", "HTTP 422: voice.speed: too fast | x", [], 422),
        (
            "night",
            LEGACY_ID,
            "update",
            "did-not-converge",
            "night: the server did not take what was sent; it kept voice.speed = 1.0",
            ["voice.speed"],
            None,
        ),
    ]
    keys = ("handle", "id", "action", "status", "message", "paths", "http_status")
    summary = {
        "applied": 1,
        "created": 1,
        "deleted": 0,
        "unchanged": 1,
        "stale": 1,
        "failed": 1,
        "did_not_converge": 1,
    }
    return {
        "format_version": "1",
        "environment": "staging",
        "api_url": API,
        "outcomes": [dict(zip(keys, row, strict=True)) for row in outcomes],
        "summary": summary,
    }


def one_change(*fields: dict[str, Any], action: str = "update") -> dict[str, Any]:
    counts = {"create": 0, "update": 0, "delete": 0, "no_op": 0}
    counts[action] = 1
    change = {
        "handle": "support",
        "file": "assistants/support.yaml",
        "id": SUPPORT_ID,
        "action": action,
        "fields": list(fields),
        "payload": {},
    }
    return {
        "format_version": "1",
        "environment": None,
        "api_url": API,
        "changes": [change],
        "summary": counts,
    }


# --- Golden files -----------------------------------------------------------------------------


def test_text_plan() -> None:
    text = render_plan(sample_plan())
    assert_golden("plan.txt", text)
    assert "\x1b[" not in text
    assert "sales" not in text  # no-ops are counted, not listed
    assert text.endswith("Plan: 1 to create, 1 to update, 1 to delete, 1 unchanged.\n")


def test_text_plan_in_colour() -> None:
    text = render_plan(sample_plan(), color=True)
    assert_golden("plan.color.txt", text)
    assert "\x1b[32m+\x1b[0m" in text and "\x1b[33m~\x1b[0m" in text
    assert "\x1b[31m-Be brief.\x1b[0m" in text
    # Colour is the only difference from the plain rendering.
    assert re.sub(r"\x1b\[\d+m", "", text) == render_plan(sample_plan())


def test_markdown_plan() -> None:
    text = render_plan(sample_plan(), "markdown")
    assert_golden("plan.md", text)
    assert text.startswith(
        "<!-- kathansync-plan --><b>kathansync plan</b> (environment <code>staging</code>, "
    )
    assert "<details><summary>~ support (update, 5 fields)</summary>" in text
    assert "```diff\n@@ -1,6 +1,7 @@\n" in text
    assert text.count("<details>") == text.count("</details>") == 3


def test_json_plan_is_the_dict_with_the_documented_keys() -> None:
    data = sample_plan()
    text = render_plan(data, "json")
    assert_golden("plan.json", text)
    assert json.loads(text) == data
    assert list(data) == ["format_version", "environment", "api_url", "changes", "summary"]
    assert list(data["summary"]) == ["create", "update", "delete", "no_op"]
    for change in data["changes"]:
        assert {"handle", "file", "id", "action", "fields", "payload"} <= set(change)
        for field in change["fields"]:
            assert (
                {"path", "before", "after"} <= set(field) <= {"path", "before", "after", "origin"}
            )
    assert [c["handle"] for c in data["changes"]] == ["newline", "sales", "support", "legacy"]


def test_outcomes_text_and_markdown() -> None:
    result = sample_result()
    text = render_outcomes(result)
    assert_golden("outcomes.txt", text)
    assert_golden("outcomes.color.txt", render_outcomes(result, color=True))
    assert_golden("outcomes.md", render_outcomes(result, "markdown"))
    lines = text.splitlines()
    assert lines[0] == "applied  support (2 fields)"
    assert lines[3] == "failed   after-hours: HTTP 422: voice.speed: too fast | x"
    assert lines[4].startswith("did not converge  night: the server did not take")
    assert "quiet" not in text
    assert lines[-1] == (
        "Apply: 1 applied, 1 created, 0 deleted, 1 unchanged, 1 stale, 1 failed, "
        "1 did not converge."
    )
    assert json.loads(render_outcomes(result, "json")) == result


# --- Prompt diffs ----------------------------------------------------------------------------


def test_multi_line_prompt_is_a_unified_diff_with_its_character_delta() -> None:
    plan = one_change({"path": "system_instruction", "before": PROMPT, "after": PROMPT_NEW})
    text = render_plan(plan)
    assert_golden("prompt-multiline.txt", text)
    assert "system_instruction: 1 line removed, 2 added, +65 characters" in text
    assert "        -Be brief.\n        +Be brief: callers are listening, not reading.\n" in text
    assert PROMPT not in text  # never the two blobs
    assert_golden("prompt-multiline.md", render_plan(plan, "markdown"))


def test_a_prompt_cleared_to_null_says_so() -> None:
    text = render_plan(one_change({"path": "system_instruction", "before": "a\nb", "after": None}))
    assert "    system_instruction: 2 lines removed, -3 characters, cleared to null\n" in text
    assert "        -a\n        -b\n" in text


def test_long_single_line_change_marks_the_words_that_changed() -> None:
    plan = one_change({"path": "first_message", "before": GREETING, "after": GREETING_NEW})
    text = render_plan(plan)
    assert_golden("prompt-long-line.txt", text)
    assert "Acme {+Corp+} support" in text
    assert "help you [-today-]{+this evening+}?" in text
    assert "(+12 characters)" in text
    md = render_plan(plan, "markdown")
    assert_golden("prompt-long-line.md", md)
    assert "help you <del>today</del>?" in md and "help you <ins>this evening</ins>?" in md


def test_long_strings_too_different_for_word_marks_are_shortened() -> None:
    before, after = "a" * 200, "Completely different words, nothing in common. " * 5
    text = render_plan(one_change({"path": "first_message", "before": before, "after": after}))
    line = next(line for line in text.splitlines() if "first_message" in line)
    assert '…" (200 characters) -> "Completely' in line
    assert len(line) < 200


def test_short_values_are_json() -> None:
    plan = one_change(
        {"path": "voice.speed", "before": 1, "after": 1.05},
        {"path": "recording_settings.enabled", "before": None, "after": True},
        {"path": "knowledge_base_ids", "before": ["a"], "after": ["a", "b"]},
        {"path": "name", "before": 'Say "hi"', "after": "Ünïcode"},
    )
    text = render_plan(plan)
    assert "    voice.speed: 1 -> 1.05\n" in text
    assert "    recording_settings.enabled: null -> true\n" in text
    assert '    knowledge_base_ids: ["a"] -> ["a", "b"]\n' in text
    assert '    name: "Say \\"hi\\"" -> "Ünïcode"\n' in text


def test_long_lists_show_the_items_that_changed() -> None:
    before = [f"kb-{n:04d}-aaaaaaaa" for n in range(8)]
    after = [*before[:3], "kb-new", *before[4:]]
    text = render_plan(one_change({"path": "knowledge_base_ids", "before": before, "after": after}))
    assert "knowledge_base_ids: 8 items -> 8 items" in text
    assert '        -"kb-0003-aaaaaaaa"\n        +"kb-new"\n' in text


# --- No changes ------------------------------------------------------------------------------


def test_no_changes() -> None:
    plan = one_change(action="no-op")
    plan["summary"] = {"create": 0, "update": 0, "delete": 0, "no_op": 1}
    text = render_plan(plan)
    assert text == f"Kathan API: {API}\n\nNo changes. 1 assistant matches its manifest.\n"
    md = render_plan(plan, "markdown")
    assert md == (
        f"<!-- kathansync-plan --><b>kathansync plan</b> (<code>{API}</code>): "
        "No changes. 1 assistant matches its manifest.\n"
    )


# --- Masking ---------------------------------------------------------------------------------


def test_sensitive_values_are_masked_and_never_diffed() -> None:
    field = {"path": "system_instruction", "before": "(sensitive)", "after": "(sensitive)"}
    plan = one_change(field)
    assert "    system_instruction: (sensitive) -> (sensitive)\n" in render_plan(plan)
    md = render_plan(plan, "markdown")
    assert "| system\\_instruction | (sensitive) | (sensitive) |" in md
    assert "```diff" not in md
    created = one_change(field, action="create")
    assert "    system_instruction: (sensitive)\n" in render_plan(created)


def test_no_output_contains_a_secret_that_only_the_payload_held() -> None:
    secret_new = "https://hooks.example/NEW-s3cr3t\nline two of the secret"
    secret_old = "https://hooks.example/OLD-s3cr3t"
    manifest = Manifest(
        "support",
        "assistants/support.yaml",
        SUPPORT_ID,
        {"call_actions": {"webhook_url": secret_new}, "first_message": "Hi"},
        sensitive=frozenset({"call_actions.webhook_url"}),
    )
    remote = {"id": SUPPORT_ID, "call_actions": {"webhook_url": secret_old}, "first_message": "Yo"}
    plan = make_plan([manifest], {SUPPORT_ID: remote}, api_url=API, keys=KEYS)
    assert plan.changes[0].payload["call_actions"]["webhook_url"] == secret_new  # it is there
    data = plan.to_dict()
    outputs = [
        render_plan(data, fmt, color=c) for fmt in ("text", "json", "markdown") for c in (0, 1)
    ]
    assert all("(sensitive)" in out for out in outputs)
    for out in outputs:
        for fragment in ("s3cr3t", "hooks.example", "line two"):
            assert fragment not in out


# --- Markdown escaping and the comment size limit ---------------------------------------------


def test_markdown_cells_escape_pipes_backticks_and_html() -> None:
    plan = one_change({"path": "name", "before": "a|b`c", "after": "<script>*x*</script>"})
    md = render_plan(plan, "markdown")
    row = next(line for line in md.splitlines() if line.startswith("| name"))
    assert row == '| name | "a\\|b\\`c" | "&lt;script&gt;\\*x\\*&lt;/script&gt;" |'
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # still exactly three columns


def many_prompt_changes(count: int, lines: int) -> dict[str, Any]:
    changes = []
    for n in range(count):
        before = "\n".join(f"rule {i} of assistant {n}: be kind" for i in range(lines))
        after = "\n".join(f"rule {i} of assistant {n}: be kinder" for i in range(lines))
        change = one_change({"path": "system_instruction", "before": before, "after": after})
        changes.extend(change["changes"])
        changes[-1]["handle"] = f"assistant-{n:03d}"
    plan = one_change()
    plan["changes"] = changes
    plan["summary"] = {"create": 0, "update": count, "delete": 0, "no_op": 0}
    return plan


@pytest.mark.parametrize(("count", "lines"), [(60, 40), (400, 5), (3, 3000), (1, 5000)])
def test_markdown_never_exceeds_the_comment_limit(count: int, lines: int) -> None:
    md = render_plan(many_prompt_changes(count, lines), "markdown")
    assert utf16_len(md) <= MARKDOWN_LIMIT
    assert md.startswith(
        f"<!-- kathansync-plan --><b>kathansync plan</b> (<code>{API}</code>): "
        f"0 to create, {count} to update, "
    )
    shown = md.count("</details>")
    if shown < count:
        assert md.endswith(
            f"… {count - shown} more assistant{'s' if count - shown > 1 else ''} not shown "
            "(comment size limit); run `kathansync plan` locally for the full plan.\n"
        )
    assert md.count("<details>") == shown  # whole sections only


def emoji_plan(count: int, lines: int) -> dict[str, Any]:
    """Emoji count once in Python but twice for GitHub: a plan that fills up on them."""
    plan = many_prompt_changes(count, lines)
    for change in plan["changes"]:
        for field in change["fields"]:
            field["before"] = field["before"].replace("be kind", "😀" * 30)
            field["after"] = field["after"].replace("be kinder", "🎉" * 30)
    return plan


@pytest.mark.parametrize(("count", "lines"), [(60, 40), (400, 3)])
def test_markdown_limit_is_counted_in_utf16_units_marker_included(count: int, lines: int) -> None:
    md = render_plan(emoji_plan(count, lines), "markdown")
    assert len(md) < utf16_len(md) <= MARKDOWN_LIMIT
    assert utf16_len(md) > MARKDOWN_LIMIT - 5000  # it filled up, so the limit was what bit
    assert md.startswith("<!-- kathansync-plan -->")
    assert md.count("<!-- kathansync-plan -->") == 1
    assert md.count("<details>") == md.count("</details>")
    assert md.count("```") % 2 == 0  # every fence closed


def test_word_marks_are_html_tags_that_work_next_to_punctuation() -> None:
    before = "Thank you for calling Acme support, we are happy to help you today with billing."
    after = before.replace("billing.", "billing!").replace("Acme", "Acme*")
    md = render_plan(
        one_change({"path": "first_message", "before": before, "after": after}), "markdown"
    )
    row = next(line for line in md.splitlines() if line.startswith("| first"))
    assert "billing<del>.</del> |" in row and "billing<ins>\\!</ins> |" in row
    assert "Acme<ins>\\*</ins>" in row  # the changed words are escaped inside the tags
    assert "**" not in row and "~~" not in row


def test_control_characters_are_shown_not_sent_to_the_terminal() -> None:
    after = "hello\n\x1b]0;pwned\x07\x1b[2Jworld\x9b31m\tend"
    plan = one_change(
        {"path": "system_instruction", "before": "hello\nworld", "after": after},
        {"path": "name", "before": "a\x1bb", "after": "c\x9bd"},
        {"path": "first_message", "before": "x" * 70 + "\x1b[2J", "after": "x" * 70 + "\x07"},
    )
    plan["changes"][0]["handle"] = "sup\x1b[2Jport"
    outputs = [render_plan(plan, fmt) for fmt in ("text", "markdown")]
    for out in outputs:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)
        assert "\\x1b]0;pwned\\x07\\x1b[2Jworld\\x9b31m\tend" in out  # tab kept
    text = outputs[0]
    assert "+\\x1b]0;pwned" in text and "sup\\x1b[2Jport" in text
    assert '    name: "a\\u001bb" -> "c\\u009bd"\n' in text  # still valid JSON escapes
    # In colour, the only escape sequences left are the renderer's own colours.
    coloured = render_plan(plan, color=True)
    assert re.sub(r"\x1b\[\d+m", "", coloured) == text
    result = sample_result()
    result["outcomes"][4]["message"] = "HTTP 422: \x1b]0;pwned\x07"
    for fmt in ("text", "markdown"):
        shown = render_outcomes(result, fmt)
        assert "\x1b" not in shown and "\x07" not in shown
    assert "HTTP 422: \\x1b]0;pwned\\x07" in render_outcomes(result)


def test_a_create_shows_every_value_in_full() -> None:
    greeting = "Welcome to Acme. " * 10
    kbs = [f"kb-{n:04d}-aaaaaaaa" for n in range(8)]
    prompt = "Line one.\nLine two."
    plan = one_change(
        {"path": "first_message", "before": None, "after": greeting},
        {"path": "knowledge_base_ids", "before": None, "after": kbs},
        {"path": "system_instruction", "before": None, "after": prompt},
        action="create",
    )
    text = render_plan(plan)
    assert f"    first_message: {json.dumps(greeting)}\n" in text
    assert f"    knowledge_base_ids: {json.dumps(kbs)}\n" in text
    assert "        +Line one.\n        +Line two.\n" in text
    md = render_plan(plan, "markdown")
    assert f"| first\\_message | {json.dumps(greeting)} |" in md
    assert "kb-0007-aaaaaaaa" in md and "items]" not in md and "(170 characters)" not in md
    # An update keeps long values short: its diff or word marks say what changed.
    update = render_plan(
        one_change({"path": "first_message", "before": "a" * 200, "after": greeting})
    )
    assert "(200 characters)" in update


def test_markdown_truncation_golden() -> None:
    md = render_plan(many_prompt_changes(70, 40), "markdown")
    # The start and the end tell the story; the middle is more of the same.
    assert_golden(
        "plan-truncated.md", md[:600] + "\n[… middle of the golden file cut …]\n" + md[-900:]
    )
    assert "more assistants not shown" in md


def test_an_oversized_prompt_diff_falls_back_to_a_compact_section() -> None:
    md = render_plan(many_prompt_changes(1, 5000), "markdown")
    assert "<details><summary>~ assistant-000 (update, 1 field)</summary>" in md
    assert "`system_instruction`: diff left out to fit the comment size limit" in md
    assert "```diff" not in md


# --- Formats and helpers ---------------------------------------------------------------------


def test_render_json_is_stable() -> None:
    assert render_json({"b": 1, "a": ["é"]}) == '{\n  "b": 1,\n  "a": [\n    "é"\n  ]\n}\n'


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown plan format 'yaml'"):
        render_plan(sample_plan(), "yaml")
    with pytest.raises(ValueError, match="unknown result format"):
        render_outcomes(sample_result(), "yaml")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [("ab", "abc", "+1 character"), ("abc", "a", "-2 characters"), ("a", "b", "same length")],
)
def test_char_delta(before: str, after: str, expected: str) -> None:
    assert char_delta(before, after) == expected


def test_line_diff_never_shows_a_change_as_nothing() -> None:
    assert line_diff("a\nb", "a\nb\n") == ["(only line endings or the trailing newline differ)"]
    assert line_diff("a\nb\nc", "a\nB\nc") == ["@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]


def test_shorten_and_word_diff_edges() -> None:
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abc", 4) == "abc"
    assert word_diff("one two three", "four five six") is None


def test_an_adoption_without_field_changes_is_shown_and_not_called_no_changes() -> None:
    assistant_id = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
    manifest = Manifest("support", "assistants/support.yaml", assistant_id, {"name": "Support"})
    plan = make_plan(
        [manifest],
        {assistant_id: {"id": assistant_id, "name": "Support"}},
        api_url="http://api",
        keys=FingerprintKeys("s", b"k"),
        adopted=frozenset({"support"}),
    ).to_dict()
    assert plan["changes"][0]["adopted"] is True
    for fmt in ("text", "markdown"):
        shown = render_plan(plan, fmt)
        assert "adopted by name" in shown
        assert "No changes." not in shown
        assert "1 id to write into manifests" in shown


def test_bidirectional_overrides_are_spelled_out() -> None:
    # "Trojan Source": an override makes a line read differently from what it is.
    evil = "refund\u202e if asked \u2066ok\u2069"
    plan = one_change(
        {"path": "name", "before": "a", "after": evil},
        {"path": "system_instruction", "before": "x\ny", "after": f"x\n{evil}"},
    )
    for fmt in ("text", "markdown"):
        out = render_plan(plan, fmt)
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", out), repr(out)
        assert "\\u202e" in out


# --- Issue 13: the header printed first, prune lines, colours ---------------------------------


def test_text_plan_without_header_is_the_rest_of_the_plan() -> None:
    from kathansync.render import api_line

    plan = sample_plan()
    assert api_line(plan) == f"Kathan API: {API} (environment: staging)\n"
    assert api_line(plan) + render_plan(plan, header=False) == render_plan(plan)


def test_a_prune_line_names_the_id_once() -> None:
    prune = Change(LEGACY_ID, None, LEGACY_ID, Action.DELETE, name="Old test bot")
    plan = make_plan([], {}, api_url=API, keys=KEYS, deletes=[prune]).to_dict()
    text = render_plan(plan)
    assert f'- {LEGACY_ID}  ("Old test bot")\n' in text
    assert text.count(LEGACY_ID) == 1


def test_colour_marks_before_red_and_after_green() -> None:
    text = render_plan(sample_plan(), color=True)
    assert "voice.speed: \x1b[31m1\x1b[0m -> \x1b[32m1.05\x1b[0m" in text
    assert 'name: \x1b[32m"Acme New"\x1b[0m' in text  # a create has only an after
    assert "\x1b[" not in render_plan(sample_plan(), color=False)
