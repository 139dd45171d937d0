"""`memproxy doctor` contacts each configured upstream, keeps going after a failed check, and exits 1 on any ✗."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from memproxy_cli.main import app
from tests.support.ports import free_port
from tests.support.upstream.local import LocalUpstream

runner = CliRunner()


def _dead_base() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _config(home: Path, *bases: str) -> None:
    models = "".join(
        f"  - model_name: m{i}\n    litellm_params:\n      model: openai/m{i}\n"
        f"      api_base: {base}\n      api_key: k\n"
        for i, base in enumerate(bases)
    )
    (home / "config.yaml").write_text(f"general_settings:\n  port: {free_port()}\nmodel_list:\n{models}")


def _checks(*args: str) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["doctor", "--json", *args])
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)}


def test_a_dead_api_base_is_a_cross_and_exit_1(memproxy_home: Path, local_upstream: LocalUpstream) -> None:
    dead, alive = _dead_base(), f"{local_upstream.url}/v1"
    _config(memproxy_home, dead, alive)
    code, checks = _checks()
    assert code == 1
    assert not checks[f"upstream {dead}"]["ok"] and checks[f"upstream {dead}"]["detail"] == "connection refused"
    assert "m0" in checks[f"upstream {dead}"]["fix"]
    assert checks[f"upstream {alive}"]["ok"] and "HTTP" in checks[f"upstream {alive}"]["detail"]
    assert checks[f"upstream {alive}"]["fix"] is None
    table = runner.invoke(app, ["doctor"]).stdout
    assert f"✗ upstream {dead}: connection refused" in table and f"✓ upstream {alive}" in table


def test_offline_contacts_nothing(memproxy_home: Path) -> None:
    _config(memproxy_home, _dead_base())
    _, checks = _checks("--offline")
    assert not any(name.startswith("upstream") for name in checks)


def test_a_healthy_databank_names_no_fix(memproxy_home: Path) -> None:
    from daemon.config.paths import resolve_paths
    from daemon.usage.writer import UsageWriter

    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    assert writer.close()
    _, checks = _checks("--offline")
    assert checks["databank"]["ok"] and checks["databank"]["fix"] is None  # was "restore from a backup"


def test_a_broken_config_does_not_stop_the_other_checks(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text("general_settings:\n  port: nope\n")
    code, checks = _checks()
    assert code == 1 and not checks["config"]["ok"]
    assert "databank" in checks and "daemon" in checks
