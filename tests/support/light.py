"""Which heavy libraries a `memproxy` command imports, run in a fresh interpreter (SPEC: read commands stay light)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("litellm", "fastapi", "uvicorn")


def run_counting_heavy(argv: list[str], env: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """`memproxy ARGV` in a new process: the heavy modules it imported, and everything it printed."""
    code = (
        "import sys\n"
        f"sys.argv = ['memproxy', *{argv!r}]\n"
        "from memproxy_cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', ','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=None if env is None else dict(env),
    )
    printed = out.stdout + out.stderr
    marker = [line for line in out.stdout.splitlines() if line.startswith("HEAVY ")]
    assert marker, printed
    heavy = marker[-1].removeprefix("HEAVY ").strip()
    return (heavy.split(",") if heavy else []), printed
