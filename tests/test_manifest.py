"""Loading manifests: discovery, every problem with its position, defaults, ${VAR}, !file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import MakeRepo

from kathansync.errors import Problem
from kathansync.load import LoadResult, discover, load_manifests

UUID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
UUID_B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
REPO = Path(__file__).resolve().parent.parent


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
    """A repository root (the cwd, so files display as assistants/x.yaml)."""
    return make_repo(config="")


def load(repo: Path, **kwargs: object) -> LoadResult:
    kwargs.setdefault("environ", {})
    return load_manifests(repo / "assistants", **kwargs)  # type: ignore[arg-type]


def only_problem(result: LoadResult) -> Problem:
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


# --- The examples and the happy path --------------------------------------------------------------


def test_example_manifests_load_cleanly() -> None:
    result = load_manifests(REPO / "assistants", environ={})
    assert result.problems == []
    assert [m.handle for m in result.manifests] == ["after-hours", "sales", "support"]
    support = result.manifests[2]
    assert support.id == UUID_A
    assert "id" not in support.desired
    assert support.desired["voice"]["speed"] == 1.05
    assert support.desired["speech_settings"]["interruptions"] == "on"


def test_manifest_fields(repo: Path) -> None:
    write(repo, "assistants/sales/outbound.yaml", f"id: {UUID_A}\nname: Out\nvoice:\n  speed: 1\n")
    [manifest] = load(repo).manifests
    assert manifest.handle == "sales/outbound"
    assert manifest.file == "assistants/sales/outbound.yaml"
    assert manifest.id == UUID_A
    assert manifest.desired == {"name": "Out", "voice": {"speed": 1.0}}
    assert manifest.sensitive == frozenset()
    assert manifest.origins == {}


def test_explicit_null_is_kept_and_absent_fields_are_not_managed(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "description: null\nvoice:\n  language: en\n")
    [manifest] = load(repo).manifests
    assert manifest.desired == {"description": None, "voice": {"language": "en"}}
    assert manifest.id is None


def test_discovery_skips_reserved_hidden_and_other_files(repo: Path) -> None:
    for name in [
        "a.yaml",
        "b.yml",
        "deep/er/c.yaml",
        "_notes.yaml",
        ".hidden/d.yaml",
        ".e.yaml",
        "readme.md",
        "deep/_defaults.yaml",
    ]:
        write(repo, f"assistants/{name}", "name: x\n")
    found = [p.relative_to(repo / "assistants").as_posix() for p in discover(repo / "assistants")]
    assert found == ["a.yaml", "b.yml", "deep/er/c.yaml"]


def test_anchors_and_merge_keys_work(repo: Path) -> None:
    write(
        repo,
        "assistants/a.yaml",
        "voice: &v\n  language: en\n  speed: 1.1\nllm:\n  model: &m gpt\n"
        "transcriber:\n  <<: {language: de}\n  stt_model: *m\n",
    )
    [manifest] = load(repo).manifests
    assert manifest.desired["transcriber"] == {"language": "de", "stt_model": "gpt"}


# --- Problems, each with its position -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("name: x\nname: y\n", 2, 1, "duplicate key 'name'"),
        ("name: [x\n", 2, 1, "invalid YAML"),
        ("voice:\n\tspeed: 1\n", 2, 1, "tab character: YAML indentation must use spaces"),
        ("name: x\n---\nname: y\n", 2, 1, "more than one YAML document"),
        ("", 1, 1, "file is empty: expected a mapping of assistant fields"),
        ("# only a comment\n", 1, 1, "file is empty"),
        ("- a\n- b\n", 1, 1, "expected a mapping of assistant fields, got a list"),
        ("just text\n", 1, 1, "expected a mapping of assistant fields, got string 'just text'"),
        ("nmae: x\n", 1, 1, "unknown key 'nmae'; did you mean 'name'?"),
        ("voice:\n  sped: 1\n", 2, 3, "unknown key 'sped' in voice; did you mean 'speed'?"),
        ("voice:\n  speed: fast\n", 2, 10, "voice.speed: expected a number, got string 'fast'"),
        ("name: 5\n", 1, 7, "name: expected a string, got integer 5"),
        ("llm: gpt\n", 1, 6, "llm: expected a mapping, got string 'gpt'"),
        ("recording:\n  enabled: yes\n", 2, 12, "expected true or false, got string 'yes'"),
        ("knowledge_base_ids: [kb, 3]\n", 1, 26, "knowledge_base_ids[1]: expected a string"),
        ("id: 1234\n", 1, 5, "expected a UUID like"),
        ("id: abc\n", 1, 5, "got string 'abc'"),
        ("id: [1]\n", 1, 5, "or a mapping of environment name to UUID, got a list"),
        ("name: !secret x\n", 1, 7, "unknown tag !secret: only !file is supported"),
    ],
)
def test_problem_positions(repo: Path, text: str, line: int, column: int, message: str) -> None:
    write(repo, "assistants/a.yaml", text)
    result = load(repo)
    problem = only_problem(result)
    assert (problem.file, problem.line, problem.column) == ("assistants/a.yaml", line, column)
    assert message in problem.message
    assert problem.severity == "error"
    assert result.manifests == []


def test_non_utf8_bytes_point_at_the_bad_byte(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "name: ok\ndescription: caf\xe9\n".encode("latin-1"))
    problem = only_problem(load(repo))
    assert (problem.line, problem.column) == (2, 17)
    assert "not UTF-8: byte 0xe9" in problem.message


def test_file_size_cap(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "description: " + "x" * (1024 * 1024) + "\n")
    assert "more than the 1048576 allowed" in only_problem(load(repo)).message


def test_billion_laughs_fails_fast(repo: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    write(repo, "assistants/bomb.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    problem = only_problem(load(repo))
    assert time.perf_counter() - started < 0.5
    assert "alias bomb" in problem.message


def test_every_problem_in_every_file_in_one_run(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "nmae: x\nvoice:\n  speed: fast\n")
    write(repo, "assistants/b.yaml", "name: [\n")
    write(repo, "assistants/c.yaml", "name: fine\n")
    result = load(repo)
    assert [(p.file, p.line) for p in result.errors] == [
        ("assistants/a.yaml", 1),
        ("assistants/a.yaml", 3),
        ("assistants/b.yaml", 2),
    ]
    assert [m.handle for m in result.manifests] == ["c"]


def test_duplicate_handles(repo: Path) -> None:
    write(repo, "assistants/support.yaml", "name: a\n")
    write(repo, "assistants/support.yml", "name: b\n")
    problem = only_problem(load(repo))
    assert problem.file == "assistants/support.yml"
    assert "handle 'support' is also the handle of assistants/support.yaml" in problem.message


def test_duplicate_ids_name_both_files(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"id: {UUID_A}\n")
    write(repo, "assistants/b.yaml", f"id: {UUID_A.upper()}\n")
    result = load(repo)
    assert [(p.file, p.line, p.column) for p in result.errors] == [
        ("assistants/a.yaml", 1, 5),
        ("assistants/b.yaml", 1, 5),
    ]
    assert "also used by assistants/b.yaml" in result.errors[0].message
    assert "also used by assistants/a.yaml" in result.errors[1].message


def test_same_id_in_different_environments_is_fine(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"id: {{staging: {UUID_A}}}\n")
    write(repo, "assistants/b.yaml", f"id: {{production: {UUID_A}}}\n")
    assert load(repo, env="staging").problems == []


# --- Enum-like values -----------------------------------------------------------------------------


def test_unknown_enum_value_is_a_warning_with_a_suggestion(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "speech_settings:\n  style: profesional\n")
    result = load(repo)
    problem = only_problem(result)
    assert (problem.line, problem.column, problem.severity) == (2, 10, "warning")
    assert "unknown value 'profesional' for speech_settings.style" in problem.message
    assert "did you mean 'professional'?" in problem.message
    assert result.manifests[0].desired == {"speech_settings": {"style": "profesional"}}


def test_unknown_enum_value_is_an_error_when_strict(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "call_actions:\n  transfer_mode: hot\n")
    result = load(repo, strict=True)
    assert only_problem(result).severity == "error"
    assert result.manifests == []


def test_booleans_where_on_off_is_expected_read_as_on_off(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "speech_settings:\n  interruptions: true\n  emotions: false\n")
    [manifest] = load(repo).manifests
    assert manifest.desired["speech_settings"] == {"interruptions": "on", "emotions": "off"}


def test_yaml_11_directive_is_read_as_yaml_12_with_a_warning(repo: Path) -> None:
    # Policy: one reading for everyone. `off` stays the string "off" (the C loader's reading),
    # and the user is told the directive is ignored.
    write(
        repo, "assistants/a.yaml", "%YAML 1.1\n---\nname: yes\nspeech_settings:\n  emotions: off\n"
    )
    result = load(repo)
    problem = only_problem(result)
    assert problem.severity == "warning" and "%YAML 1.1 directive ignored" in problem.message
    assert result.manifests[0].desired == {"name": "yes", "speech_settings": {"emotions": "off"}}


# --- ${VAR} ---------------------------------------------------------------------------------------


def test_interpolation_config_vars_win_over_environ(repo: Path) -> None:
    write(
        repo,
        "assistants/a.yaml",
        "call_actions:\n  webhook_url: https://x/${TOKEN}/${REGION}\n"
        "  hangup_triggers: [bye, '${WORD}']\nname: plain\n",
    )
    result = load(
        repo,
        variables={"TOKEN": "from-config"},
        environ={"TOKEN": "from-env", "REGION": "eu", "WORD": "ciao"},
    )
    [manifest] = result.manifests
    assert manifest.desired["call_actions"]["webhook_url"] == "https://x/from-config/eu"
    assert manifest.desired["call_actions"]["hangup_triggers"] == ["bye", "ciao"]
    assert manifest.sensitive == {"call_actions.webhook_url", "call_actions.hangup_triggers"}


def test_double_dollar_is_a_literal_and_not_sensitive(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "first_message: 'cost $5, template $${NAME}'\n")
    [manifest] = load(repo).manifests
    assert manifest.desired["first_message"] == "cost $5, template ${NAME}"
    assert manifest.sensitive == frozenset()


def test_missing_variable_names_file_line_and_variable(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "name: x\ncall_actions:\n  transfer_number: ${PHONE}\n")
    problem = only_problem(load(repo))
    assert (problem.file, problem.line, problem.column) == ("assistants/a.yaml", 3, 20)
    assert "${PHONE} is not set" in problem.message


def test_secret_values_never_appear_in_problems(repo: Path) -> None:
    write(
        repo,
        "assistants/a.yaml",
        "voice:\n  speed: ${SPEED}\nspeech_settings:\n  style: ${STYLE}\n",
    )
    result = load(repo, environ={"SPEED": "hunter2-speed", "STYLE": "hunter2-style"})
    assert len(result.problems) == 2
    for problem in result.problems:
        assert "hunter2" not in str(problem)
        assert "(sensitive)" in problem.message


# --- !file ----------------------------------------------------------------------------------------


def test_file_tag_reads_exact_content_relative_to_the_manifest(repo: Path) -> None:
    write(repo, "assistants/prompts/support.md", "Line one.\nLine ${two}.\n\n")
    write(repo, "assistants/support.yaml", "system_instruction: !file prompts/support.md\n")
    [manifest] = load(repo).manifests
    # Kept exactly: trailing newlines included, no ${...} interpolation inside the file.
    assert manifest.desired["system_instruction"] == "Line one.\nLine ${two}.\n\n"
    assert manifest.sensitive == frozenset()


@pytest.mark.parametrize(
    ("target", "content", "message"),
    [
        ("nope.md", None, "!file 'nope.md': no such file"),
        ("bad.md", b"ok\n\xff\n", "!file 'bad.md': not UTF-8"),
        ("../../outside.md", b"x", "!file '../../outside.md' leaves the repository root"),
    ],
)
def test_file_tag_errors(repo: Path, target: str, content: bytes | None, message: str) -> None:
    if content is not None:
        write(repo, f"assistants/{target}", content)
    write(repo, "assistants/a.yaml", f"name: x\nsystem_instruction: !file {target}\n")
    problem = only_problem(load(repo))
    assert (problem.file, problem.line, problem.column) == ("assistants/a.yaml", 2, 21)
    assert problem.message.startswith(message)


def test_file_tag_may_reach_the_repository_root(repo: Path) -> None:
    write(repo, "prompts/p.md", "shared")
    write(repo, "assistants/a.yaml", "system_instruction: !file ../prompts/p.md\n")
    assert load(repo).manifests[0].desired == {"system_instruction": "shared"}


# --- _defaults ------------------------------------------------------------------------------------


def test_defaults_precedence_across_three_levels(repo: Path) -> None:
    write(
        repo,
        "assistants/_defaults.yaml",
        "voice:\n  language: en\n  speed: 1.0\n  tts_provider: cartesia\n"
        "call_actions:\n  hangup_triggers: [bye, goodbye]\n",
    )
    write(repo, "assistants/sales/_defaults.yml", "voice:\n  speed: 1.1\n  language: de\n")
    write(repo, "assistants/sales/eu/_defaults.yaml", "voice:\n  language: fr\n")
    write(
        repo,
        "assistants/sales/eu/paris.yaml",
        f"id: {UUID_A}\nvoice:\n  tts_provider: eleven\n"
        "call_actions:\n  hangup_triggers: [au revoir]\n",
    )
    write(repo, "assistants/other.yaml", "name: other\n")
    result = load(repo)
    assert result.problems == []
    other, paris = result.manifests
    assert paris.desired == {
        "voice": {"language": "fr", "speed": 1.1, "tts_provider": "eleven"},
        "call_actions": {"hangup_triggers": ["au revoir"]},  # lists replace, not concatenate
    }
    assert paris.origins == {
        "voice.language": "assistants/sales/eu/_defaults.yaml",
        "voice.speed": "assistants/sales/_defaults.yml",
    }
    assert other.desired["voice"] == {"language": "en", "speed": 1.0, "tts_provider": "cartesia"}
    assert other.origins["call_actions.hangup_triggers"] == "assistants/_defaults.yaml"


def test_problems_in_defaults_point_into_the_defaults_file(repo: Path) -> None:
    write(
        repo,
        "assistants/_defaults.yaml",
        "voice:\n  speed: fast\nllm:\n  modle: x\nid: " + UUID_B + "\n",
    )
    write(repo, "assistants/a.yaml", "name: a\n")
    write(repo, "assistants/b.yaml", "name: b\n")
    result = load(repo)
    assert [(p.file, p.line) for p in result.problems] == [
        ("assistants/_defaults.yaml", 2),
        ("assistants/_defaults.yaml", 4),
        ("assistants/_defaults.yaml", 5),
    ]  # reported once, not once per manifest
    assert "did you mean 'model'?" in result.problems[1].message
    assert "id does not belong in a defaults file" in result.problems[2].message
    assert result.manifests == []


def test_sensitive_values_from_defaults_stay_sensitive(repo: Path) -> None:
    write(repo, "assistants/_defaults.yaml", "call_actions:\n  webhook_url: ${HOOK}\n")
    write(repo, "assistants/a.yaml", "name: a\n")
    [manifest] = load(repo, environ={"HOOK": "https://secret"}).manifests
    assert manifest.sensitive == {"call_actions.webhook_url"}
    assert manifest.desired["call_actions"]["webhook_url"] == "https://secret"


def test_overridden_default_is_not_sensitive_or_attributed(repo: Path) -> None:
    write(repo, "assistants/_defaults.yaml", "call_actions:\n  webhook_url: ${HOOK}\n")
    write(repo, "assistants/a.yaml", "call_actions:\n  webhook_url: https://public\n")
    [manifest] = load(repo, environ={"HOOK": "x"}).manifests
    assert manifest.sensitive == frozenset()
    assert manifest.origins == {}


# --- Environments and per-environment ids ---------------------------------------------------------


def test_per_environment_ids(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"id:\n  staging: {UUID_A}\n  production: {UUID_B}\n")
    assert load(repo, env="production").manifests[0].id == UUID_B
    assert load(repo, env="dev").manifests[0].id is None  # no id there: a create


def test_per_environment_id_without_env_is_an_error(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"name: x\nid:\n  staging: {UUID_A}\n")
    problem = only_problem(load(repo))
    assert (problem.line, problem.column) == (2, 1)
    assert "id is a per-environment mapping: choose one with --env" in problem.message


def test_bad_uuid_in_id_mapping(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"id:\n  staging: {UUID_A}\n  production: nope\n")
    problem = only_problem(load(repo, env="staging"))
    assert (problem.line, problem.column) == (3, 15)


def test_unknown_environment_in_id_mapping_is_an_error_with_a_suggestion(repo: Path) -> None:
    # A misspelt key meant no id for `staging`: the plan would create a duplicate assistant.
    write(repo, "assistants/a.yaml", f"name: a\nid:\n  stagng: {UUID_A}\n")
    result = load(repo, env="staging", environments=["staging", "production"])
    problem = only_problem(result)
    assert (problem.line, problem.column, problem.severity) == (3, 3, "error")
    assert "unknown environment 'stagng' in id" in problem.message
    assert "did you mean 'staging'" in problem.message.lower()
    assert result.manifests == []


def test_known_environments_in_id_mapping_load(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"name: a\nid:\n  staging: {UUID_A}\n")
    result = load(repo, env="production", environments=["staging", "production"])
    assert result.problems == [] and result.manifests[0].id is None


def test_selected_environment_missing_but_close_to_a_key_warns(repo: Path) -> None:
    # Without the list of environments a misspelling can only be guessed: a warning.
    write(repo, "assistants/a.yaml", f"name: a\nid:\n  stagng: {UUID_A}\n")
    problem = only_problem(load(repo, env="staging"))
    assert problem.severity == "warning" and "no id for environment 'staging'" in problem.message


@pytest.mark.parametrize(
    "spelling",
    [
        "3f2b8c1e000040008000000000000001",
        "urn:uuid:3f2b8c1e-0000-4000-8000-000000000001",
        "'{3f2b8c1e-0000-4000-8000-000000000001}'",
        "3F2B8C1E000040008000000000000001",
    ],
)
def test_only_the_canonical_uuid_spelling_is_an_id(repo: Path, spelling: str) -> None:
    write(repo, "assistants/a.yaml", f"id: {spelling}\nname: a\n")
    problem = only_problem(load(repo))
    assert "8-4-4-4-12" in problem.message and (problem.line, problem.column) == (1, 5)


def test_uppercase_ids_are_kept_lower_case_and_duplicates_found(repo: Path) -> None:
    write(repo, "assistants/a.yaml", f"id: {UUID_A.upper()}\nname: a\n")
    (manifest,) = load(repo).manifests
    assert manifest.id == UUID_A  # so prune and adopt match the API's lower-case ids
    assert (repo / "assistants/a.yaml").read_text().startswith(f"id: {UUID_A.upper()}")
    write(repo, "assistants/b.yaml", f"id:\n  staging: {UUID_A}\n")
    assert len(load(repo, env="staging").errors) == 2  # one per file


def test_prune_keeps_an_assistant_managed_with_an_upper_case_id(repo: Path) -> None:
    from kathansync.plan.prune import plan_deletes

    write(repo, "assistants/a.yaml", f"id: {UUID_A.upper()}\nname: a\n")
    (manifest,) = load(repo).manifests
    assert plan_deletes([{"id": UUID_A, "name": "a"}], [manifest], force=False) == []


@pytest.mark.parametrize("text", ["id: ${AID}\n", "id:\n  staging: ${AID}\n"])
def test_an_interpolated_id_is_never_shown(repo: Path, text: str) -> None:
    write(repo, "assistants/a.yaml", text + "name: x\n")
    result = load(repo, env="staging", environ={"AID": "tok-s3cr3t"})
    problem = only_problem(result)
    assert "tok-s3cr3t" not in str(problem) and "got (sensitive)" in problem.message


def test_a_merged_key_with_an_error_is_reported_at_the_merge(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "voice: &v {speed: 1.0}\nllm:\n  <<: *v\n")
    problem = only_problem(load(repo))
    assert "speed" in problem.message and (problem.line, problem.column) == (3, 3)


def test_deep_nesting_is_a_problem_not_a_traceback(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "name: " + "[" * 400 + "]" * 400 + "\n")
    assert "nested more than" in only_problem(load(repo)).message


def test_an_empty_value_is_reported_on_its_own_line(repo: Path) -> None:
    write(repo, "assistants/a.yaml", "name: x\nvoice:\n\n# c\ndescription: y\n")
    problem = only_problem(load(repo))
    assert (problem.line, problem.column) == (2, 1), problem


def test_nan_and_infinity_are_errors(repo: Path) -> None:
    # JSON has no NaN: the PUT body would be invalid.
    write(
        repo,
        "assistants/a.yaml",
        "voice:\n  speed: .nan\nlong_term_memory:\n  search_threshold: .inf\n",
    )
    messages = sorted(p.message for p in load(repo).errors)
    assert len(messages) == 2 and all("expected a finite number" in m for m in messages), messages


def test_large_aliased_string_is_refused(repo: Path) -> None:
    text = f'description: &s "{"A" * 600_000}"\nknowledge_base_ids: [' + ",".join(["*s"] * 90_000)
    write(repo, "assistants/a.yaml", text + "]\n")
    result = load(repo)
    refused = [p.message for p in result.errors]
    del result  # on failure pytest would try to show 54 GB
    assert refused and "alias bomb" in refused[0]
