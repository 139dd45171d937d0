"""`memproxy memory add|search|list|forget`, through the real Typer app and the local backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memproxy_cli.main import app

runner = CliRunner()


def _invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["memory", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def _json(*args: str) -> Any:
    code, out, err = _invoke(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_add_search_list_forget_round_trip() -> None:
    added = _json("add", "my name is Alice and I deploy on Fridays", "--project", "shop")
    assert isinstance(added, dict)
    assert added["scope"] == "project:shop" and added["text"] == "my name is Alice and I deploy on Fridays"

    found = _json("search", "when do I deploy?", "--project", "shop")
    assert isinstance(found, list) and [m["id"] for m in found] == [added["id"]]
    # SPEC's shape, plus how often and when last the memory went into a request (the local store counts)
    assert set(found[0]) == {"id", "text", "scope", "created_at", "score", "used_count", "last_used_at"}

    listed = _json("list", "--project", "shop")
    assert isinstance(listed, list) and [m["id"] for m in listed] == [added["id"]]
    assert set(listed[0]) == {"id", "text", "scope", "created_at", "used_count", "last_used_at"}
    assert (listed[0]["used_count"], listed[0]["last_used_at"]) == (0, None)

    assert _json("forget", added["id"], "--project", "shop") == {"forgotten": 1, "scope": "project:shop"}
    assert _json("list", "--project", "shop") == []


def test_projects_do_not_share_memory() -> None:
    _json("add", "shop deploys on Fridays", "--project", "shop")
    assert _json("search", "deploys", "--project", "blog") == []
    code, out, _ = _invoke("search", "deploys", "--project", "blog")
    assert code == 0 and "no memory in project:blog" in out


def test_human_output() -> None:
    code, out, _ = _invoke("add", "deploy on [bold]Fridays[/bold]", "-p", "shop")
    assert code == 0 and out.strip() == "✓ remembered in project:shop (memory 1)"
    code, out, _ = _invoke("search", "deploy", "-p", "shop")
    assert code == 0 and "[bold]Fridays[/bold]" in out and "project:shop" in out
    code, out, _ = _invoke("list", "-p", "shop")
    assert code == 0 and "deploy on" in out


def test_hostile_search_text_is_fine() -> None:
    _json("add", "deploy NEAR friday", "-p", "shop")
    for query in ['"', "*", "NEAR(", "OR AND NOT", "🚀", ""]:
        found = _json("search", query, "-p", "shop")
        assert isinstance(found, list)


def test_the_default_project_is_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my shop"
    folder.mkdir()
    monkeypatch.chdir(folder)
    added = _json("add", "remember me")
    assert isinstance(added, dict) and added["scope"] == "project:my-shop"


def test_forget_all_counts() -> None:
    for n in range(3):
        _json("add", f"note {n}", "-p", "shop")
    _json("add", "other", "-p", "blog")
    asked = runner.invoke(app, ["memory", "forget", "--all", "-p", "shop"], input="n\n")
    assert asked.exit_code == 1 and "forget all 3 memories in project:shop?" in asked.stderr
    assert len(_json("list", "-p", "shop")) == 3, "no is no"
    unanswered = runner.invoke(app, ["memory", "forget", "--all", "-p", "shop"])  # stdin at its end: no answer
    assert unanswered.exit_code != 0 and len(_json("list", "-p", "shop")) == 3
    code, out, _ = _invoke("forget", "--all", "-p", "shop", "--yes")
    assert code == 0 and out.strip() == "✓ forgot 3 memories in project:shop"
    assert len(_json("list", "-p", "blog")) == 1


def test_add_reads_stdin_with_dash() -> None:
    result = runner.invoke(app, ["memory", "add", "-", "-p", "shop", "--json"], input="piped\nnote\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "piped\nnote\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("forget", "-p", "shop"), "give either a memory ID or --all"),
        (("forget", "1", "--all", "-p", "shop"), "give either a memory ID or --all"),
        (("forget", "42", "-p", "shop"), "no memory 42 in project:shop"),
        (("add", "   ", "-p", "shop"), "nothing to remember"),
        (("list", "-p", "../etc"), "invalid project name"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    code, out, err = _invoke(*args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_the_user_scope_comes_from_config(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text(
        "context_retrieval:\n  scope: project_user\nuser_id_mappings:\n  default_user_id: alice\n"
    )
    added = _json("add", "alice's note", "-p", "shop")
    assert isinstance(added, dict) and added["scope"] == "project:shop/user:alice"
    bob = _json("add", "bob's note", "-p", "shop", "--user", "bob")
    assert isinstance(bob, dict) and bob["scope"] == "project:shop/user:bob"
    assert [m["text"] for m in _json("list", "-p", "shop")] == ["alice's note"]


def test_a_broken_config_is_one_clear_error(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text("context_retrieval:\n  backend: nosuch\n")
    code, _, err = _invoke("list", "-p", "shop")
    assert code == 1 and "config" in err and "Traceback" not in err


def test_supermemory_without_a_key_is_one_clear_error(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text("context_retrieval:\n  backend: supermemory\n")
    code, _, err = _invoke("search", "x", "-p", "shop")
    assert code == 1 and "no api_key" in err


def test_memory_help_stays_light() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from memproxy_cli.main import app\n"
        "result = CliRunner().invoke(app, ['memory', 'list', '-p', 'shop'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = {'litellm', 'fastapi', 'uvicorn', 'supermemory'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
