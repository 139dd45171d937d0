"""The project → port registry: pure port choice, stable assignment, clear refusals, concurrent writers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon.errors import InvalidProjectName, RegistryError
from interceptor.registry import assign, choose_port, load, release
from tests.support.ports import free_range
from tests.support.serving import home_paths

REPO = Path(__file__).resolve().parents[2]


def test_choose_port_lowest_not_registered_and_free() -> None:
    assert choose_port(set(), (8800, 8899), lambda p: True) == 8800
    assert choose_port({8800, 8801}, (8800, 8899), lambda p: True) == 8802
    assert choose_port({8800}, (8800, 8899), lambda p: p != 8801) == 8802


def test_choose_port_full_range_says_so() -> None:
    with pytest.raises(RegistryError, match=r"no free port left in interceptor\.port_range 8800-8801"):
        choose_port({8800}, (8800, 8801), lambda p: p != 8801)


def test_assign_is_stable_and_release_forgets() -> None:
    paths, rng = home_paths(), free_range()
    port, created = assign(paths, "shop", rng)
    assert created and rng[0] <= port <= rng[1]
    assert assign(paths, "shop", rng) == (port, False)
    other, _ = assign(paths, "blog", rng)
    assert other != port
    assert load(paths) == {"shop": port, "blog": other}
    assert json.loads(paths.registry_file.read_text())["projects"] == {"blog": other, "shop": port}
    assert release(paths, "shop") == port
    assert release(paths, "shop") is None
    assert load(paths) == {"blog": other}


def test_load_without_file_is_empty() -> None:
    assert load(home_paths()) == {}


def test_existing_port_kept_even_while_something_listens_on_it() -> None:
    # The daemon itself listens on a registered project's port: assigning again must not move it.
    paths, rng = home_paths(), free_range()
    port, _ = assign(paths, "shop", rng)
    with socket.create_server(("127.0.0.1", port)):
        assert assign(paths, "shop", rng) == (port, False)
        assert assign(paths, "shop", rng, port) == (port, False)


def test_explicit_port_moves_the_project() -> None:
    paths, rng = home_paths(), free_range()
    assign(paths, "shop", rng)
    target = next(p for p in range(rng[1], rng[0], -1) if _free(p))
    assert assign(paths, "shop", rng, target) == (target, False)
    assert load(paths)["shop"] == target


def test_explicit_port_outside_range_refused() -> None:
    paths = home_paths()
    with pytest.raises(RegistryError, match=r"port 9000 is outside interceptor.port_range 8800-8899"):
        assign(paths, "shop", (8800, 8899), 9000)
    assert not paths.registry_file.exists()


def test_explicit_port_of_another_project_refused() -> None:
    paths, rng = home_paths(), free_range()
    port, _ = assign(paths, "shop", rng)
    with pytest.raises(RegistryError, match=rf"port {port} is already registered to project 'shop'"):
        assign(paths, "blog", rng, port)
    assert load(paths) == {"shop": port}


def test_explicit_port_held_by_another_program_names_it() -> None:
    paths, rng = home_paths(), free_range()
    with socket.create_server(("127.0.0.1", rng[0])) as held:
        port = held.getsockname()[1]
        with pytest.raises(RegistryError, match=rf"port {port} is held by pid {os.getpid()} \("):
            assign(paths, "shop", rng, port)
        # and an automatic choice skips it
        chosen, _ = assign(paths, "shop", rng)
        assert chosen != port


@pytest.mark.parametrize("name", ["a/b", "..", "has space", "x" * 200, "", "-lead", "../etc"])
def test_bad_project_names_refused_before_any_file(name: str) -> None:
    paths = home_paths()
    with pytest.raises(InvalidProjectName, match="invalid project name"):
        assign(paths, name, (8800, 8899))
    with pytest.raises(InvalidProjectName):
        release(paths, name)
    assert not paths.registry_file.exists()
    assert not paths.registry_lock_file.exists()


@pytest.mark.parametrize(
    "damage",
    [
        '{"version": 1, "projects": {"shop": 88',  # truncated
        "",
        "garbage",
        '["shop"]',
        '{"projects": {"shop": "8800"}}',
        '{"projects": {"a/b": 8800}}',
        '{"projects": {"shop": 70000}}',
    ],
)
def test_damaged_file_is_reported_and_never_overwritten(damage: str) -> None:
    paths = home_paths()
    paths.registry_file.write_text(damage)
    with pytest.raises(RegistryError, match=rf"the port registry {paths.registry_file} is damaged"):
        load(paths)
    with pytest.raises(RegistryError, match="is damaged"):
        assign(paths, "blog", (8800, 8899))
    with pytest.raises(RegistryError, match="is damaged"):
        release(paths, "shop")
    assert paths.registry_file.read_text() == damage


def test_write_leaves_no_temp_files() -> None:
    paths, rng = home_paths(), free_range()
    assign(paths, "shop", rng)
    release(paths, "shop")
    leftovers = [p.name for p in paths.state_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


_WORKER = """
import json, os, sys, time
from daemon.config.paths import resolve_paths
from interceptor.registry import assign
go, name, low, high = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
open(go + "." + name, "w").close()  # ready
while not os.path.exists(go):
    time.sleep(0.001)
print(json.dumps(assign(resolve_paths(), name, (low, high))))
"""


@pytest.mark.slow
def test_twenty_processes_assign_twenty_distinct_ports(tmp_path: Path) -> None:
    paths = home_paths()
    low, high = free_range(60)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(go), f"proj-{i}", str(low), str(high)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < 20 and time.monotonic() < deadline:  # all at the line
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(tuple(json.loads(out)))
    ports = [port for port, created in results]
    assert all(created for _, created in results)
    assert len(set(ports)) == 20
    registry = json.loads(paths.registry_file.read_text())["projects"]
    assert registry == {f"proj-{i}": port for i, (port, _) in enumerate(results)}


def _free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True
