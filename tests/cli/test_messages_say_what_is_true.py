"""The small messages say what is true: a flag is blamed as a flag, a missing explicit config is not 'defaults'."""

from __future__ import annotations

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
