"""The project → port registry: which port each project's interceptor listens on, forever.

Stored as JSON (`{"version": 1, "projects": {"shop": 8800}}`) at `Paths.registry_file`.
Writers hold a separate lock file and replace the data file atomically (temp + fsync +
`os.replace`), so readers never need the lock and always see a whole file. A file that does not
parse is reported, never "repaired": the ports in it are set in people's IDEs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.config.paths import Paths
from daemon.errors import InvalidProjectName, RegistryError
from daemon.identity import validate_project_name
from daemon.sockets import port_is_free, who_holds

FORMAT_VERSION = 1
LOCK_TIMEOUT_S = 10.0
PortRange = tuple[int, int]


def choose_port(taken: set[int], port_range: PortRange, is_free: Callable[[int], bool]) -> int:
    """The lowest port in `port_range` that no project has and no other program holds."""
    low, high = port_range
    for port in range(low, high + 1):
        if port not in taken and is_free(port):
            return port
    raise RegistryError(
        f"no free port left in interceptor.port_range {low}-{high}: release a project or widen the range"
    )


def parse(text: str, where: Path | str) -> dict[str, int]:
    """The projects in a registry file's text; RegistryError naming `where` if it is not a registry."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _corrupt(where, f"not valid JSON ({exc})") from exc
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        raise _corrupt(where, 'no "projects" object')
    for name, port in projects.items():
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise _corrupt(where, f"project {name!r} has no valid port ({port!r})")
        try:
            validate_project_name(name)
        except InvalidProjectName as exc:
            raise _corrupt(where, str(exc)) from exc
    return dict(projects)


def _corrupt(where: Path | str, why: str) -> RegistryError:
    return RegistryError(
        f"the port registry {where} is damaged: {why}; fix it by hand or move it away "
        "(projects will then get new ports)"
    )


def load(paths: Paths) -> dict[str, int]:
    """The registry as {project: port}; empty when there is no file yet."""
    try:
        text = paths.registry_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RegistryError(f"cannot read the port registry {paths.registry_file}: {exc.strerror}") from exc
    return parse(text, paths.registry_file)


def assign(
    paths: Paths,
    project: str,
    port_range: PortRange,
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
) -> tuple[int, bool]:
    """Give `project` a port (keeping the one it has unless `port` says otherwise): (port, newly registered)."""
    validate_project_name(project)
    low, high = port_range
    if port is not None and not low <= port <= high:
        raise RegistryError(f"port {port} is outside interceptor.port_range {low}-{high}")
    with _locked(paths):
        projects = load(paths)
        current = projects.get(project)
        if port is None or port == current:
            # Same port again: whoever listens there is the daemon serving this very project.
            if current is not None:
                return current, False
            port = choose_port(set(projects.values()), port_range, lambda p: port_is_free(host, p))
        else:
            owner = next((name for name, p in projects.items() if p == port), None)
            if owner is not None:
                raise RegistryError(f"port {port} is already registered to project {owner!r}")
            if not port_is_free(host, port):
                raise RegistryError(f"port {port} is held by {who_holds(port)}")
        projects[project] = port
        _write(paths, projects)
    return port, current is None


def release(paths: Paths, project: str) -> int | None:
    """Unregister `project`; the port it had, or None if it was not registered."""
    validate_project_name(project)
    with _locked(paths):
        projects = load(paths)
        port = projects.pop(project, None)
        if port is not None:
            _write(paths, projects)
    return port


@contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    """The registry's lock file, held while a change is read, decided and written."""
    from filelock import FileLock, Timeout  # only writers lock: `status` and `ports` never pay its import

    paths.ensure()
    lock = FileLock(str(paths.registry_lock_file), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout as exc:
        raise RegistryError(
            f"the port registry is locked by another memproxy for over {LOCK_TIMEOUT_S:.0f} s "
            f"({paths.registry_lock_file})"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _write(paths: Paths, projects: dict[str, int]) -> None:
    target = paths.registry_file
    data = {"version": FORMAT_VERSION, "projects": dict(sorted(projects.items()))}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RegistryError(f"cannot write the port registry {target}: {exc.strerror}") from exc


def _fsync_dir(folder: Path) -> None:
    # The rename itself must reach the disk, or a crash could bring back the old file.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
