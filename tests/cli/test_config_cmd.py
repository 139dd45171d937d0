"""`memproxy config ...` through the real Typer app, as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.config.settings import DEFAULT_CONFIG_TEXT
from memproxy_cli.main import app

SEED = "/work/shared/seed-config.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_init_writes_the_commented_default(runner: CliRunner, memproxy_home: Path) -> None:
    result = runner.invoke(app, ["config", "init"])
    path = memproxy_home / "config.yaml"
    assert result.exit_code == 0, result.output
    assert result.stdout == f"✓ wrote {path}\n"
    assert path.read_text(encoding="utf-8") == DEFAULT_CONFIG_TEXT
    assert path.stat().st_mode & 0o077 == 0  # it will hold keys


def test_init_refuses_to_overwrite_without_force(runner: CliRunner, memproxy_home: Path) -> None:
    path = memproxy_home / "config.yaml"
    path.write_text("general_settings:\n  port: 9000\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 1
    assert result.stderr == f"{path} already exists; use --force to overwrite it\n"
    assert "9000" in path.read_text(encoding="utf-8")
    forced = runner.invoke(app, ["config", "init", "--force"])
    assert forced.exit_code == 0 and path.read_text(encoding="utf-8") == DEFAULT_CONFIG_TEXT


def test_init_to_a_given_path(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "nested" / "dir" / "memproxy.yaml"
    result = runner.invoke(app, ["config", "init", "--config", str(target)])
    assert result.exit_code == 0 and target.exists()
    assert runner.invoke(app, ["config", "validate", "--config", str(target)]).exit_code == 0


def test_show_masks_the_seed_master_key(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show", "--config", SEED])
    assert result.exit_code == 0, result.output
    assert "sk-1234" not in result.output
    assert "master_key: '****'" in result.stdout
    assert result.stdout.startswith(f"# resolved from {SEED} (secrets masked)\n")
    # warnings (missing env vars here) go to stderr, not into the YAML
    assert "environment variable OPENAI_API_KEY is not set" in result.stderr


def test_show_json_is_one_json_document(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-from-env-42")
    result = runner.invoke(app, ["config", "show", "--json", "--config", SEED])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["general_settings"]["master_key"] == "****"
    assert data["model_list"][1]["litellm_params"]["api_key"] == "sk-…42"
    assert data["litellm_settings"]["success_callback"] == ["postgres", "otel"]
    assert "sk-openai-from-env-42" not in result.output


def test_show_without_a_file_shows_the_defaults(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    names = [m["model_name"] for m in json.loads(result.stdout)["model_list"]]
    assert "claude-*" in names and "gpt-*" in names


def test_validate_a_good_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "validate", "--config", SEED])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"✓ {SEED} is valid\n")
    assert f"warning: {SEED}:6: general_settings.database_url" in result.stdout


def test_validate_a_bad_file(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("general_settings:\n  port: eighty\ncontext_retrieval:\n  backend: redis\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "validate", "--config", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{bad} is not a valid memproxy config (2 problems)",
        f"  {bad}:2: general_settings.port: Input should be a valid integer, unable to parse string as an "
        "integer (got 'eighty')",
        f"  {bad}:4: context_retrieval.backend: Input should be 'local' or 'supermemory' (got 'redis')",
    ]
    assert "Traceback" not in result.output


def test_validate_bad_yaml_and_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("general_settings:\n  port: [1, 2\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "validate", "--config", str(bad)])
    assert result.exit_code == 1 and f"{bad}:3: " in result.stderr
    missing = runner.invoke(app, ["config", "show", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert (
        missing.stderr
        == f"config file {tmp_path / 'nope.yaml'} does not exist (create it with `memproxy config init`)\n"
    )


def test_validate_without_a_file(runner: CliRunner, memproxy_home: Path) -> None:
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0
    assert result.stdout == f"✓ no config file at {memproxy_home / 'config.yaml'}; the built-in defaults are valid\n"


def test_path(runner: CliRunner, memproxy_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "path"])
    assert result.exit_code == 0
    assert result.stdout == f"{memproxy_home / 'config.yaml'}\n"
    assert result.stderr == "(does not exist; memproxy uses built-in defaults)\n"
    (memproxy_home / "config.yaml").write_text("", encoding="utf-8")
    assert runner.invoke(app, ["config", "path"]).stderr == ""
    monkeypatch.setenv("MEMPROXY_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert runner.invoke(app, ["config", "path"]).stdout == f"{tmp_path / 'elsewhere.yaml'}\n"
    flagged = runner.invoke(app, ["config", "path", "--config", str(tmp_path / "flag.yaml")])
    assert flagged.stdout == f"{tmp_path / 'flag.yaml'}\n"


def test_schema_is_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "general_settings" in schema["properties"] and "GeneralSettings" in schema["$defs"]


HEAVY = "litellm", "fastapi", "uvicorn"


def test_cli_import_and_config_commands_stay_light(memproxy_home: Path) -> None:
    code = (
        "import sys\n"
        "import memproxy_cli.main\n"
        f"assert not {{m for m in sys.modules if m.split('.')[0] in {HEAVY!r}}}, 'heavy import on load'\n"
        "for args in (['config', 'show', '--json'], ['config', 'validate'], ['config', 'schema']):\n"
        "    try:\n"
        "        memproxy_cli.main.app(args)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        f"heavy = sorted({{m for m in sys.modules if m.split('.')[0] in {HEAVY!r}}})\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
