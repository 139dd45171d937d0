"""The daemon process: bind the gateway port, serve until SIGTERM, drain, flush the databank.

Run by `memproxy up` as `python -m daemon.server [--config F] [--host H] [--port N]`, or in the
foreground by `memproxy up --foreground` (for systemd/launchd and debugging).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from daemon import __version__
from daemon.errors import MemproxyError
from daemon.lifecycle import DaemonInfo, clear_daemon_info, write_daemon_info
from daemon.settings import Settings, load_settings
from daemon.sockets import bind_listener

log = logging.getLogger("memproxy.daemon")

# SIGTERM lets in-flight requests finish for this long; `memproxy down --timeout` decides sooner.
GRACEFUL_SECONDS = 30


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # LiteLLM logs request details (and at debug, headers) itself; keep it to warnings.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve(settings: Settings) -> None:
    """Serve the gateway in this process until told to stop."""
    import uvicorn

    from daemon.app import create_app, start_gateway

    setup_logging(settings.logging.level)
    for warning in settings.warnings:
        log.warning(warning)
    general = settings.general_settings
    sock = bind_listener(general.host, general.port)
    gateway = start_gateway(settings)
    app = create_app(settings, gateway)
    config = uvicorn.Config(
        app,
        log_level=settings.logging.level if settings.logging.level == "debug" else "warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
        date_header=True,
    )
    server = uvicorn.Server(config)
    info = DaemonInfo(
        pid=os.getpid(),
        host=general.host,
        port=sock.getsockname()[1],
        started_at=time.time(),
        config_path=str(settings.config_path) if settings.config_path else None,
        version=__version__,
    )
    write_daemon_info(settings.paths, info)
    log.info("memproxy %s gateway on %s (pid %d)", __version__, info.url, info.pid)
    try:
        server.run(sockets=[sock])
    finally:
        gateway.writer.close()
        clear_daemon_info(settings.paths, info.pid)
        log.info("memproxy stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daemon.server", description="Run the memproxy daemon.")
    parser.add_argument("--config")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_file=args.config, host=args.host, port=args.port)
        settings.paths.ensure()
        serve(settings)
    except MemproxyError as exc:
        print(f"memproxy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
