"""Import against the emulator: repository-wide duplicates, credentials as ${VAR}, the schema line,
values the defaults already give left out; and pull's honest paths and counts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.scaffold import EXAMPLE, SCHEMA, scaffold_files
from kathansync.writeback.credentials import hide_credentials, looks_like_credential
from kathansync.writeback.defaults import API_DEFAULTS, folder_defaults, omit_defaults, same

SUPPORT = "3f2b8c1e-0000-4000-8000-000000000001"
SALES = "3f2b8c1e-0000-4000-8000-000000000002"
SECRET = "hunter2"
HOOK = f"https://bot:{SECRET}@hooks.example.com/kathan"
VARIABLE = "ACME_SUPPORT_CALL_ACTIONS_WEBHOOK_URL"
SCHEMA_LINE = f"# yaml-language-server: $schema=../{SCHEMA.as_posix()}"  # one constant: init's


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="{}\n")


@pytest.fixture
def remote(kathan_env: EmulatorServer) -> EmulatorServer:
    kathan_env.seed(
        SUPPORT,
        name="Acme Support",
        voice={"voice_id": "alloy", "speed": 1.2},
        speech_settings={"style": "professional"},
        call_actions={"webhook_url": HOOK},
    )
    kathan_env.seed(SALES, name="Sales")
    return kathan_env


# --- duplicates: every manifest in the repository counts ----------------------------------------


def test_import_into_another_folder_skips_assistants_managed_anywhere_in_the_repository(
    repo: Path, remote: EmulatorServer
) -> None:
    (repo / "assistants" / "sales.yaml").write_text(f"id:\n  production: {SALES}\nname: Sales\n")
    (repo / "teams" / "support").mkdir(parents=True)
    (repo / "teams" / "support" / "bot.yml").write_text(f"id: {SUPPORT.upper()}\nname: S\n")
    result = invoke("import", "--all", "--dir", "other")
    assert result.exit_code == 0, result.output
    assert "0 imported, 2 already managed, 0 failed." in result.stdout
    assert f"{SALES}: already managed in assistants/sales.yaml" in result.stderr
    assert f"{SUPPORT}: already managed in teams/support/bot.yml" in result.stderr
    assert not (repo / "other").exists() or not list((repo / "other").iterdir())


def test_yaml_under_hidden_folders_is_not_read_for_ids(repo: Path, remote: EmulatorServer) -> None:
    (repo / ".git").mkdir()
    (repo / ".git" / "x.yaml").write_text(f"id: {SALES}\n")
    result = invoke("import", SALES, "--dir", "other")
    assert result.exit_code == 0, result.output
    assert (repo / "other" / "sales.yaml").is_file()


# --- credentials ---------------------------------------------------------------------------------


def test_a_credential_in_a_url_is_written_as_a_variable_and_never_in_plain_text(
    repo: Path, remote: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke("import", SUPPORT)
    assert result.exit_code == 0, result.output
    path = repo / "assistants" / "acme-support.yaml"
    text = path.read_text()
    assert SECRET not in text and SECRET not in result.output
    assert f"  webhook_url: ${{{VARIABLE}}}\n" in text
    assert (
        f"call_actions.webhook_url looks like it holds a credential; written as ${{{VARIABLE}}}"
        in result.stderr
    )
    assert VARIABLE in result.stderr and VARIABLE not in result.stdout
    # No secret in the file: the ordinary mode for a file meant for git (0644 under umask 022).
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044
    monkeypatch.setenv(VARIABLE, HOOK)
    plan = invoke("plan")
    assert "No changes." in plan.stdout, plan.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://user:pass@hooks.example.com/x", True),
        ("https://user@hooks.example.com/x", True),
        ("https://hooks.example.com/x?token=abc", True),
        ("https://hooks.example.com/x?api_key=abc", True),
        ("https://hooks.example.com/x#access_token=abc", True),
        ("https://hooks.example.com/x?v=a8Fh3kd9Qm2pLz7xR4", True),  # random-looking value
        ("https://hooks.slack.com/services/T0AB12CD/B0AB12CD/Zx8aQ3wE9rT5yU1iO7pL2kJm", True),
        ("https://example.com/hooks/3f2b8c1e-0000-4000-8000-000000000001", True),
        ("https://example.com/api/v1/assistant-events", False),
        ("https://example.com/hooks/assistant-events-v2-production", False),
        ("Read https://example.com/docs/a8Fh3kd9Qm2pLz7xR4 first.", False),  # prose
        ("wss://u:p@realtime.example.com", True),
        ("https://example.com/hook?page=2&lang=en", False),
        ("+15550100", False),
        ("Visit https example com", False),
    ],
)
def test_looks_like_credential(value: str, expected: bool) -> None:
    assert looks_like_credential(value) is expected


def test_hide_credentials_names_each_variable_by_handle_and_path() -> None:
    fields = {"name": "A", "call_actions": {"webhook_url": HOOK, "hangup_triggers": ["bye"]}}
    hidden, found = hide_credentials(fields, "sales/outbound-2")
    assert hidden["call_actions"]["webhook_url"] == "${SALES_OUTBOUND_2_CALL_ACTIONS_WEBHOOK_URL}"
    assert [(p.path, p.variable) for p in found] == [
        ("call_actions.webhook_url", "SALES_OUTBOUND_2_CALL_ACTIONS_WEBHOOK_URL")
    ]
    assert hidden["call_actions"]["hangup_triggers"] == ["bye"]


# --- the schema line and the defaults in effect --------------------------------------------------


def test_imported_files_start_with_the_schema_line(repo: Path, remote: EmulatorServer) -> None:
    assert invoke("import", SALES).exit_code == 0
    assert (repo / "assistants" / "sales.yaml").read_text().splitlines()[0] == SCHEMA_LINE
    assert invoke("import", SUPPORT, "--dir", "assistants/deep/er").exit_code == 0
    first = (repo / "assistants" / "deep" / "er" / "acme-support.yaml").read_text().split("\n")[0]
    assert first == f"# yaml-language-server: $schema=../../../{SCHEMA.as_posix()}"


def test_the_schema_line_is_the_one_init_writes_into_its_example() -> None:
    # Both point at the file `init` writes: an imported file beside the example gets its line.
    assert scaffold_files()[EXAMPLE].splitlines()[0] == SCHEMA_LINE
    assert SCHEMA in scaffold_files() and EXAMPLE.parent == Path("assistants")


def test_values_the_folder_defaults_give_are_left_out_and_still_managed(
    repo: Path, remote: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, HOOK)
    (repo / "assistants" / "_defaults.yaml").write_text(
        "voice:\n  speed: 1.2\n  language: de\nspeech_settings:\n  style: professional\n"
    )
    assert invoke("import", SUPPORT).exit_code == 0
    text = (repo / "assistants" / "acme-support.yaml").read_text()
    assert "speed:" not in text and "style:" not in text
    assert "  voice_id: alloy\n" in text
    assert "  language: en\n" in text, "differs from the defaults: written"
    assert "No changes." in invoke("plan").stdout
    # Managed through _defaults.yaml: changing it there plans a change for the assistant.
    (repo / "assistants" / "_defaults.yaml").write_text("voice:\n  speed: 1.3\n")
    assert "voice.speed" in invoke("plan").stdout


def test_omit_defaults_also_leaves_out_the_api_defaults(repo: Path, remote: EmulatorServer) -> None:
    assert invoke("import", SALES, "--omit-defaults").exit_code == 0
    text = (repo / "assistants" / "sales.yaml").read_text()
    assert "tts_provider" not in text and "llm:" not in text and "recording:" not in text
    assert "name: Sales\n" in text
    assert "No changes." in invoke("plan").stdout
    assert invoke("import", SUPPORT).exit_code == 0
    assert "tts_provider: cartesia" in (repo / "assistants" / "acme-support.yaml").read_text()


def test_omit_defaults_compares_as_the_plan_does() -> None:
    fields = {"voice": {"speed": 1.0, "language": "en"}, "assistant_speaks_first": 1}
    assert omit_defaults(fields, {}, API_DEFAULTS) == {"assistant_speaks_first": 1}
    assert omit_defaults(fields, {"voice": {"speed": 2}}, None) == fields
    assert same(1, 1.0) and not same(True, 1) and not same([1], [True])


# --- pull: paths and counts ----------------------------------------------------------------------


def test_pull_of_a_prompt_file_only_shows_its_path_and_counts_it_apart(
    repo: Path, remote: EmulatorServer
) -> None:
    (repo / "prompts").mkdir()
    (repo / "prompts" / "support.md").write_text("Be nice.\n")
    manifest = repo / "assistants" / "support.yaml"
    manifest.write_text(f"id: {SUPPORT}\nsystem_instruction: !file ../prompts/support.md\n")
    remote.seed(SUPPORT, system_instruction="Be very nice.\n")
    result = invoke("pull", "--write-files")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "prompts/support.md: updated (support)\n"
        "0 manifest(s) updated, 1 referenced file(s) updated, 0 value(s) left as is."
        " Review and commit the changes.\n"
    )
    assert (repo / "prompts" / "support.md").read_text() == "Be very nice.\n"


def test_pull_leaves_a_credential_looking_remote_value_out_of_the_file(
    repo: Path, remote: EmulatorServer
) -> None:
    manifest = repo / "assistants" / "support.yaml"
    text = f"id: {SUPPORT}\ncall_actions:\n  webhook_url: https://hooks.example.com/old\n"
    manifest.write_text(text)
    result = invoke("pull")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and manifest.read_text() == text
    assert "call_actions.webhook_url: the remote value looks like a credential" in result.stdout


def test_folder_defaults_never_count_a_variable_or_a_file_reference_as_equal(repo: Path) -> None:
    folder = repo / "assistants"
    (folder / "_defaults.yaml").write_text(
        "name: ${NAME}\nsystem_instruction: !file p.md\nvoice:\n  speed: 1.2\n"
    )
    assert folder_defaults(folder) == {"voice": {"speed": 1.2}}
    fields = {"name": "${NAME}", "voice": {"speed": 1.2}}
    assert omit_defaults(fields, folder_defaults(folder), None) == {"name": "${NAME}"}
