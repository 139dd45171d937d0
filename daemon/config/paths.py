"""Where memproxy's files live: the one place that knows.

Precedence: `MEMPROXY_HOME` puts every file under one folder (tests always set it);
otherwise platformdirs' user config/data/state dirs under the app name `memproxy`.
`MEMPROXY_CONFIG` overrides just the config file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "memproxy"


@dataclass(frozen=True)
class Paths:
    """Every file memproxy reads or writes."""

    config_dir: Path
    data_dir: Path
    state_dir: Path
    config_file: Path

    @property
    def db_file(self) -> Path:
        return self.data_dir / "memproxy.db"

    @property
    def memory_db_file(self) -> Path:
        return self.data_dir / "memory.db"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "memproxy.pid"

    @property
    def state_file(self) -> Path:
        """JSON the running daemon writes: pid, url, port, config path, start time."""
        return self.state_dir / "daemon.json"

    @property
    def start_lock_file(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def out_file(self) -> Path:
        """The daemon's raw stdout/stderr: what is printed before its logging is set up (per start)."""
        return self.state_dir / "daemon.out"

    @property
    def registry_file(self) -> Path:
        return self.state_dir / "ports.json"

    @property
    def registry_lock_file(self) -> Path:
        return self.state_dir / "ports.lock"

    @property
    def budgets_file(self) -> Path:
        """The limits `memproxy budget set` sets, over the config's (daemon/budgets/store.py)."""
        return self.state_dir / "budgets.json"

    @property
    def port_token_file(self) -> Path:
        """The token project ports require with `interceptor.auth: token` (interceptor/port_token.py)."""
        return self.state_dir / "port-token"

    def ensure(self) -> Paths:
        """Create the folders (not the files), readable by their owner alone; return self."""
        for d in (self.config_dir, self.data_dir, self.state_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not d.is_symlink():
                os.chmod(d, 0o700)  # every prompt lives here: a folder made before this release was 0755
        return self


def resolve_paths(env: dict[str, str] | None = None, config_file: str | Path | None = None) -> Paths:
    """Work out every path from the environment (flags > MEMPROXY_CONFIG > MEMPROXY_HOME > platformdirs)."""
    env = dict(os.environ) if env is None else env
    home = env.get("MEMPROXY_HOME")
    if home:
        root = Path(home).expanduser()
        config_dir = data_dir = state_dir = root
    else:
        import platformdirs

        config_dir = Path(platformdirs.user_config_dir(APP_NAME))
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
        state_dir = Path(platformdirs.user_state_dir(APP_NAME))
    chosen = config_file or env.get("MEMPROXY_CONFIG")
    cfg = Path(chosen).expanduser() if chosen else config_dir / "config.yaml"
    return Paths(config_dir=config_dir, data_dir=data_dir, state_dir=state_dir, config_file=cfg)
