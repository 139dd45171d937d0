"""`memproxy doctor`: one line per check, ✓ or ✗ with the fix; exit 1 when any check failed.

What each model lacks comes from the decision the gateway makes per request (`key_source`, fed by
LiteLLM's own `validate_environment`), so doctor pays for importing LiteLLM; it reads this shell's
environment, which is what a daemon started from it would have.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from memproxy_cli.options import ConfigOption
from memproxy_cli.output import console


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _config_checks(config: Path | None) -> tuple[list[Check], Any]:
    from daemon.config.settings import load_settings
    from daemon.errors import ConfigError

    try:
        settings = load_settings(config_file=config)
    except ConfigError as exc:
        return [Check("config", False, str(exc), "fix the lines above, then `memproxy config validate`")], None
    where = str(settings.config_path) if settings.config_path else "no file: built-in defaults"
    checks = [Check("config", True, where)]
    for warning in settings.warnings:
        checks.append(Check("config warning", True, warning))
    return checks, settings


def _model_checks(settings: Any) -> list[Check]:
    return [model_check(entry.model_name, entry.litellm_params) for entry in settings.model_list]


def model_check(name: str, params: dict[str, Any]) -> Check:
    """Where a model's credentials come from, or exactly what it lacks and how to add it."""
    from daemon.gateway.credentials import KeySource, client_declared, key_source
    from daemon.gateway.llm import provider_needs

    needs = provider_needs(params)
    source = key_source(params, needs, has_client_key=False)
    title = f"model {name}"
    if source is KeySource.CONFIGURED:
        return Check(title, True, "key configured")
    if source is KeySource.NONE:
        where = params.get("api_base") or f"{needs.provider} takes no key"
        return Check(title, True, f"no key needed ({where})")
    if source is KeySource.ENVIRONMENT:
        found = "found in the environment" if needs.missing == () else "left to LiteLLM (it cannot check them)"
        return Check(title, True, f"{needs.provider or 'provider'} credentials {found}")
    if client_declared(params):
        return Check(title, True, "clients send their own key (configurable_clientside_auth_params)")
    missing = ", ".join(needs.missing or ())
    return Check(
        title,
        False,
        f"missing {missing}: only clients that send their own key can use it",
        f"export {' '.join(f'{var}=...' for var in needs.missing or ())} before `memproxy up`, "
        "or set api_key in config.yaml",
    )


def _runtime_checks(settings: Any) -> list[Check]:
    from daemon.errors import MemproxyError
    from daemon.lifecycle import running_daemon
    from daemon.sockets import port_is_free, who_holds
    from daemon.usage.query import connect_readonly

    paths = settings.paths
    general = settings.general_settings
    checks = []
    found = running_daemon(paths)
    if found is not None:
        info, health = found
        checks.append(Check("daemon", True, f"healthy at {info.url} (pid {info.pid}, version {health.get('version')})"))
    elif port_is_free(general.host, general.port):
        checks.append(Check("daemon", False, "not running", "memproxy up"))
    else:
        checks.append(
            Check(
                "daemon",
                False,
                f"port {general.port} is held by {who_holds(general.port)}",
                "stop that program or run `memproxy up --port N`",
            )
        )
    try:
        conn = connect_readonly(paths.db_file)
        if conn is None:
            checks.append(Check("databank", True, f"{paths.db_file} (created on first request)"))
        else:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            conn.close()
            checks.append(Check("databank", verdict == "ok", f"{paths.db_file}: {verdict}", "restore from a backup"))
    except (MemproxyError, OSError) as exc:
        checks.append(Check("databank", False, str(exc), "check the file's permissions"))
    try:
        from daemon.sockets import daemon_listens, port_accepts, who_holds
        from interceptor.registry import load

        pid = found[0].pid if found is not None else None
        for name, port in sorted(load(paths).items()):
            listening = daemon_listens(port, pid)
            fix = "" if listening or found is None else f"memproxy ports assign {name}"
            detail = f"port {port}"
            if found is not None and not listening and port_accepts(port):
                detail += f" is held by {who_holds(port)}, not by memproxy"
                fix = f"stop that program, or move the project: memproxy ports assign {name} --port N"
            checks.append(Check(f"project {name}", listening or found is None, detail, fix))
    except MemproxyError as exc:
        checks.append(Check("registry", False, str(exc), "fix or delete the registry file"))
    return checks


def _upstream_checks(settings: Any) -> list[Check]:
    from memproxy_cli.doctor_probe import bases, probe

    checks = []
    for base, names in bases(settings.model_list).items():
        found = probe(base)
        fix = f"start the server at {base}, or correct api_base for {', '.join(names)} in the config"
        checks.append(Check(f"upstream {base}", found.ok, found.detail, fix))
    return checks


def _without_config(config: Path | None) -> Any:
    """What the runtime checks need when the config cannot be read: where files live, the default port."""
    from types import SimpleNamespace

    from daemon.config.paths import resolve_paths
    from daemon.config.settings import GeneralSettings

    return SimpleNamespace(paths=resolve_paths(config_file=config), general_settings=GeneralSettings())


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Do not contact the configured upstreams.")] = False,
    config: ConfigOption = None,
) -> None:
    """Check config, keys per model, upstreams, ports, databank and daemon health; say how to fix what is wrong.

    Every check runs whatever the others found; the exit code is 1 when any of them failed."""
    checks, settings = _config_checks(config)
    if settings is not None:
        checks += _model_checks(settings) + ([] if offline else _upstream_checks(settings))
    checks += _runtime_checks(settings if settings is not None else _without_config(config))
    if as_json:
        # a fix only where something is wrong
        print(json.dumps([{**asdict(c), "fix": c.fix if not c.ok else None} for c in checks], indent=2))
    else:
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            fix = f"  → {check.fix}" if check.fix and not check.ok else ""
            console.print(f"{mark} {check.name}: {check.detail}{fix}", soft_wrap=True)
    if any(not c.ok for c in checks):
        raise typer.Exit(1)
