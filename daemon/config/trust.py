"""Whether memproxy may trust its home, and keeping what it writes there readable by its owner alone.

The home holds every prompt (the databank, the memory store), the daemon's log and the registry the
tools follow. Another local user who could read it reads every prompt; one who could write it (or who
prepared it) could plant a `config.yaml` that sends the owner's keys to their server, or a symlinked
`daemon.log` that makes the daemon append to a file of their choosing. So, the way ssh treats `~/.ssh`:

- `check_trusted` refuses a home folder or config file owned by another user or writable by group or
  others, and a symlink in place of any file memproxy writes there (it never follows one);
- `tighten` makes the folders 0700 and the files 0600 (a home created before this release was 0755
  with 0644 files), and `OWNER_ONLY` is the umask the daemon and the CLI run under, so every file
  created later (SQLite's `-wal`/`-shm`, locks, temp files) starts that way.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from daemon.config.paths import Paths
from daemon.errors import ConfigError

OWNER_ONLY = 0o077
# Files memproxy writes in its home (the databanks with their journals, state, log, registry, locks).
_SUFFIXES = ("", "-wal", "-shm", "-journal")


def written_files(paths: Paths) -> list[Path]:
    """Every file memproxy creates in its folders (whether or not it exists yet)."""
    files = [db.with_name(db.name + s) for db in (paths.db_file, paths.memory_db_file) for s in _SUFFIXES]
    files += [
        paths.pid_file,
        paths.state_file,
        paths.start_lock_file,
        paths.log_file,
        paths.out_file,
        paths.registry_file,
        paths.registry_lock_file,
        paths.port_token_file,
    ]
    files += sorted(paths.state_dir.glob(paths.log_file.name + ".*"))  # rotated logs
    files += sorted(paths.data_dir.glob("memproxy-spool.jsonl"))
    return files


def _folders(paths: Paths) -> list[Path]:
    return list(dict.fromkeys((paths.config_dir, paths.data_dir, paths.state_dir)))


def _untrusted(path: Path, st: os.stat_result, what: str) -> str | None:
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {uid})"
    if st.st_mode & 0o022:
        mode = stat.S_IMODE(st.st_mode)
        return f"{what} {path} is writable by other users (mode {mode:o}; run `chmod go-w {path}`)"
    return None


def check_trusted(paths: Paths) -> None:
    """Raise ConfigError if someone else could control this home (as ssh does for ~/.ssh)."""
    problems: list[str] = []
    for folder in _folders(paths):
        try:
            st = folder.stat()
        except FileNotFoundError:
            continue
        problem = _untrusted(folder, st, "memproxy's folder")
        if problem:
            problems.append(problem)
    try:
        st = paths.config_file.stat()  # a symlinked config (a dotfiles repo) is fine: its target is checked
    except FileNotFoundError:
        pass
    else:
        problem = _untrusted(paths.config_file, st, "the config file")
        if problem:
            problems.append(problem)
    for file in written_files(paths):
        if file.is_symlink():
            problems.append(f"{file} is a symbolic link: memproxy never follows links for the files it writes")
    if problems:
        raise ConfigError(
            "refusing to use a home another user could control: "
            + "; ".join(problems)
            + " (remove what you did not create, or point MEMPROXY_HOME at a folder of your own)"
        )


def tighten(paths: Paths) -> None:
    """Folders 0700, memproxy's files 0600: the state every start leaves them in."""
    for folder in _folders(paths):
        if folder.is_dir() and not folder.is_symlink():
            os.chmod(folder, 0o700)
    for file in written_files(paths):
        if file.is_file() and not file.is_symlink():
            os.chmod(file, 0o600)
