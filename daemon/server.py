"""The daemon process: bind the gateway port, serve until SIGTERM, drain, flush the databank.

Run by `memproxy up` as `python -m daemon.server [--config F] [--host H] [--port N]`, or in the
foreground by `memproxy up --foreground` (for systemd/launchd and debugging).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from daemon import __version__
from daemon.config.settings import Settings, load_settings
from daemon.config.trust import OWNER_ONLY, tighten
from daemon.errors import MemproxyError
from daemon.lifecycle import DaemonInfo, clear_daemon_info, config_stamp, write_daemon_info
from daemon.sockets import bind_listener

log = logging.getLogger("memproxy.daemon")

# SIGTERM lets in-flight requests finish for this long; `memproxy down --timeout` decides sooner.
GRACEFUL_SECONDS = 30
FORCED_SHUTDOWN_SECONDS = 1.5  # the app's shutdown after a forced stop (`down` past its timeout)
KEEP_ALIVE_SECONDS = 120


def setup_logging(settings: Settings, *, background: bool = False) -> None:
    """Every record to the rotating daemon log (daemon.observe.logfile), and to stderr in the foreground."""
    from daemon.observe.logfile import setup_daemon_logging

    cfg = settings.logging
    setup_daemon_logging(
        cfg.level,
        settings.paths.log_file,
        max_bytes=cfg.max_bytes,
        backups=cfg.backups,
        secrets=settings.secrets,
        background=background,
    )


def serve(settings: Settings, *, background: bool = False, stamp: list[int] | None = None) -> None:
    """Serve the gateway in this process until told to stop (`background`: spawned by `memproxy up`).

    In the foreground (`up --foreground`) the daemon holds the start lock itself until it serves, as
    `memproxy up` does for a background one: a `memproxy down` meanwhile waits, then stops it.
    """
    if background:
        _serve(settings, background=True, started=lambda: None, stamp=stamp)
        return
    from filelock import FileLock, Timeout

    from daemon.errors import DaemonStartError
    from daemon.lifecycle import START_TIMEOUT_S

    lock = FileLock(str(settings.paths.start_lock_file))
    try:
        lock.acquire(timeout=START_TIMEOUT_S)
    except Timeout:
        raise DaemonStartError(f"another memproxy has been starting for {START_TIMEOUT_S:.0f} s") from None
    try:
        _serve(settings, background=False, started=lock.release, stamp=stamp)
    finally:
        if lock.is_locked:
            lock.release()


def _serve(settings: Settings, *, background: bool, started: Callable[[], None], stamp: list[int] | None) -> None:
    import uvicorn

    from daemon.app import Hosted, create_app, start_gateway
    from daemon.gateway.sse import OpenStreams
    from daemon.http_limits import LimitedHttpToolsProtocol
    from daemon.observe.logfile import drop_foreign_handlers
    from daemon.usage.integrity import refuse_if_damaged

    setup_logging(settings, background=background)
    for warning in settings.warnings:
        log.warning(warning)
    general = settings.general_settings
    refuse_if_damaged(settings.paths.db_file)  # `up` checked too; this covers `up --foreground` and a race
    sock = bind_listener(general.host, general.port)
    port = sock.getsockname()[1]
    gateway = start_gateway(settings)
    drop_foreign_handlers()  # LiteLLM, imported just now, gave its loggers a second, raw stderr handler

    def listeners() -> Hosted:
        from interceptor.listeners import Listeners
        from interceptor.port_token import port_token

        gateway_url = _gateway_url_for_interceptors(general.host, port)
        return Listeners(
            settings.paths,
            "127.0.0.1",
            gateway_url,
            general.master_key,
            max_body_bytes=general.max_body_bytes,
            body_timeout=general.body_timeout,
            token=port_token(settings.paths) if settings.interceptor.auth == "token" else None,
        )

    app = create_app(settings, gateway, listeners=listeners)
    app.state.streams = streams = OpenStreams()
    config = uvicorn.Config(
        app,
        log_level=settings.logging.level if settings.logging.level == "debug" else "warning",
        log_config=None,  # uvicorn's records reach the rotating daemon log like every other (no own handlers)
        access_log=False,
        lifespan="on",
        http=LimitedHttpToolsProtocol,  # a deadline and a size limit for each request's headers
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        # longer than any client pool's idle expiry (the interceptor's is 30 s): a server closing an
        # idle connection just as a client reuses it turns into a spurious 502
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        proxy_headers=False,
        date_header=True,
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            started()  # serving now, its signal handlers set: a `down` may stop it

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            streams.stopping = True  # a stream uvicorn cancels from here on ends with its reason
            await super().shutdown(sockets=sockets)
            cut = await streams.cut(timeout=2.0)  # forced (`down` past its timeout): what is left
            if cut:
                log.warning("memproxy stopped with %d answer(s) still streaming; each was told so", cut)
            if self.force_exit:
                # uvicorn skips the app's shutdown when forced; with the streams ended it can run (the
                # memory store closed, telemetry flushed), and the lifespan task ends rather than being
                # cancelled by the closing loop (one more traceback in the log). Bounded: `down` sends
                # SIGKILL 5 s after its SIGINT, and the databank is flushed after this
                try:
                    async with asyncio.timeout(FORCED_SHUTDOWN_SECONDS):
                        await self.lifespan.shutdown()
                except TimeoutError:
                    log.warning("the app's shutdown took over %.1f s; stopping without it", FORCED_SHUTDOWN_SECONDS)

    server = Server(config)
    info = DaemonInfo(
        pid=os.getpid(),
        host=general.host,
        port=port,
        started_at=time.time(),
        config_path=str(settings.config_path) if settings.config_path else None,
        version=__version__,
        validated={
            "config_stamp": stamp,  # of the file as it was read, not as it is once serving
            "models": [m.model_name for m in settings.model_list],
            "budgets": settings.budgets.default is not None or bool(settings.budgets.projects),
        },
    )
    write_daemon_info(settings.paths, info)
    log.info("memproxy %s gateway on %s (pid %d)", __version__, info.url, info.pid)
    # uvicorn restores the handlers it found and re-raises the signal it caught once it has drained;
    # with Python's defaults that kills the process before the databank is flushed below
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _after_drain)
    try:
        server.run(sockets=[sock])
    finally:
        # Longer than one write's busy_timeout, so rows a lock held back still reach the spool.
        gateway.writer.close(timeout=15.0)
        clear_daemon_info(settings.paths, info.pid)
        log.info("memproxy stopped")


def _after_drain(signum: int, frame: object) -> None:
    """Signals re-raised by uvicorn after its graceful stop: the shutdown is already done."""


def _gateway_url_for_interceptors(host: str, port: int) -> str:
    """Interceptors reach the gateway over loopback when it listens there (loopback or every address)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"http://127.0.0.1:{port}"
    if address.is_loopback or address.is_unspecified:
        return f"http://127.0.0.1:{port}"
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def run(
    config: str | Path | None = None, host: str | None = None, port: int | None = None, *, background: bool = False
) -> None:
    """Load the settings (these flags over the file) and serve in this process until told to stop."""
    settings = load_settings(config_file=config, host=host, port=port)
    settings.paths.ensure()
    tighten(settings.paths)
    stamp = config_stamp(settings.config_path)  # `status` trusts the models read only while the file is so
    serve(settings, background=background, stamp=stamp)


def main(argv: list[str] | None = None) -> int:
    """`python -m daemon.server`: the process `memproxy up` spawns; 1 with one line on stderr if it cannot serve."""
    parser = argparse.ArgumentParser(prog="python -m daemon.server", description="Run the memproxy daemon.")
    parser.add_argument("--config")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    # spawned by `memproxy up`: log to the file alone, stdout/stderr into it too
    parser.add_argument("--background", action="store_true")
    args = parser.parse_args(argv)
    os.umask(OWNER_ONLY)  # every file the daemon creates (SQLite's -wal/-shm too) is its owner's alone
    try:
        run(args.config, args.host, args.port, background=args.background)
    except MemproxyError as exc:
        print(f"memproxy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
