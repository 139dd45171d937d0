"""The small messages say what is true: a flag is blamed as a flag, a missing explicit config is not 'defaults'."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from typer.testing import CliRunner

from memproxy_cli.main import app

runner = CliRunner()


def test_up_with_a_public_host_blames_the_flag_not_the_file(memproxy_home: Path) -> None:
    result = runner.invoke(app, ["up", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "--host 0.0.0.0: binding a non-loopback host" in result.stderr
    assert "is not a valid memproxy config" not in result.stderr


def test_status_with_a_missing_memproxy_config_does_not_claim_the_defaults(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "config.yaml"
    result = runner.invoke(app, ["status"], env={"MEMPROXY_CONFIG": str(missing), "COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"config:   {missing} (not found)" in result.stdout
    assert "built-in defaults" not in result.stdout and "does not exist" in result.stdout


def test_up_on_a_taken_port_names_the_holder_and_a_free_port_to_use(memproxy_home: Path) -> None:
    """Where the README's first command leaves a user with a second home: 8764 held by the first one."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = runner.invoke(app, ["up", "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in result.stderr
    suggested = re.search(r"memproxy up --port (\d+)", result.stderr)
    assert suggested is not None, result.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", int(suggested[1])))  # the port suggested is free
