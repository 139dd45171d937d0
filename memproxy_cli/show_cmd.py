"""`memproxy logs show ID`: one request whole — who, which model, status and reason, usage and cost,
timings, memories injected, the messages sent and the answer.

ID is a request id as `logs --json` prints it, enough of its start to be unique, or `last`.
Reads the databank only; nothing heavy is imported.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from memproxy_cli.logs_cmd import human_count


def find_request(db_file: Any, wanted: str) -> dict[str, Any]:
    """The databank row `wanted` names (an id, a unique start of one, or `last`)."""
    from daemon.errors import MemproxyError
    from daemon.usage.query import fetch_all

    if wanted == "last":
        rows = fetch_all(db_file, "SELECT * FROM requests ORDER BY started_at DESC, rowid DESC LIMIT 1")
    else:
        prefix = wanted.replace("\\", "").replace("%", "").replace("_", "") + "%"
        rows = fetch_all(db_file, "SELECT * FROM requests WHERE id = ? OR id LIKE ? LIMIT 2", (wanted, prefix))
        exact = [row for row in rows if row["id"] == wanted]
        rows = exact or rows
    if not rows:
        raise MemproxyError(f"no request {wanted!r} in the databank (ids are in `memproxy logs --json`)")
    if len(rows) > 1:
        raise MemproxyError(f"{wanted!r} starts more than one request id: give more of it")
    row = dict(rows[0])
    row["stream"] = bool(row.get("stream"))
    return row


def _text(content: Any) -> str:
    """A message's content as text: strings as they are, parts by their text or their kind."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(part) for part in content)
    if isinstance(content, dict):
        kind = str(content.get("type") or "")
        for key in ("text", "input_text", "output_text", "thinking"):
            if isinstance(content.get(key), str):
                return str(content[key])
        if "parts" in content:
            return _text(content["parts"])
        if kind in ("tool_use", "function_call") or "functionCall" in content:
            call = content.get("functionCall") or content
            return f"[tool call {call.get('name', '')}: {json.dumps(call.get('input') or call.get('args') or {})}]"
        if kind == "tool_result":
            return "[tool result] " + _text(content.get("content"))
        return f"[{kind or 'part'}]"
    return "" if content is None else str(content)


def messages(request_json: str | None) -> list[tuple[str, str]]:
    """(role, text) of what the request sent, whatever its dialect (chat, messages, responses, gemini)."""
    try:
        body = json.loads(request_json or "")
    except ValueError:
        return [("request", request_json)] if request_json else []
    if not isinstance(body, dict):
        return [("request", str(body))]
    out: list[tuple[str, str]] = []
    system = body.get("system") or body.get("instructions") or body.get("systemInstruction")
    if system:
        out.append(("system", _text(system)))
    turns = body.get("messages") or body.get("contents") or body.get("input") or []
    if isinstance(turns, str):
        turns = [{"role": "user", "content": turns}]
    for turn in turns if isinstance(turns, list) else []:
        if isinstance(turn, dict):
            out.append((str(turn.get("role") or turn.get("type") or "?"), _text(turn.get("content", turn))))
    return out


def _facts(row: dict[str, Any]) -> list[tuple[str, str]]:
    cost = row.get("cost_usd")
    status = str(row.get("status") or "") + (f" {row['http_status']}" if row.get("http_status") else "")
    model = str(row.get("model") or "–")
    if row.get("resolved_model") and row["resolved_model"] != row.get("model"):
        model += f" → {row['resolved_model']}"
    tokens = f"{human_count(row.get('input_tokens'))} in, {human_count(row.get('output_tokens'))} out"
    if row.get("cache_read_tokens") or row.get("cache_write_tokens"):
        tokens += f", cache {human_count(row.get('cache_read_tokens'))} read / "
        tokens += f"{human_count(row.get('cache_write_tokens'))} written"
    if row.get("reasoning_tokens"):
        tokens += f" (of the output {human_count(row['reasoning_tokens'])} reasoning)"
    times = "–" if row.get("latency_ms") is None else f"{row['latency_ms']:,.0f} ms"
    if row.get("ttft_ms") is not None:
        times += f", first token after {row['ttft_ms']:,.0f} ms"
    facts = [
        ("id", str(row["id"])),
        ("started", str(row.get("started_at") or "")),
        ("project", f"{row.get('project')}" + (f" (user {row['user_id']})" if row.get("user_id") else "")),
        ("client", str(row.get("user_agent") or row.get("client") or "–")),
        ("endpoint", f"{row.get('endpoint') or '–'}" + (" (stream)" if row.get("stream") else "")),
        ("model", model + (f" via {row['provider']}" if row.get("provider") else "")),
        ("status", status),
        ("tokens", tokens),
        ("cost", "– (no price known)" if cost is None else f"${cost:.6f}"),
        ("time", times),
        ("memory", f"{row.get('memory_hits') or 0} memories injected" + _memory_ids(row)),
    ]
    if row.get("tool_rounds"):
        facts.append(("tools", f"{row['tool_rounds']} rounds run by the gateway"))
    if row.get("error"):
        facts.append(("error", str(row["error"])))
    return facts


def _memory_ids(row: dict[str, Any]) -> str:
    ids = row.get("memory_ids")
    return f" (ids {ids.replace(',', ', ')})" if ids else ""


def show(
    request_id: Annotated[
        str, typer.Argument(metavar="ID", help="A request id (from logs --json), its start, or last.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="The whole databank row as one JSON object.")] = False,
) -> None:
    """One request whole: usage, cost, timings, memories injected, the messages and the answer."""
    from rich.markup import escape
    from rich.rule import Rule

    from daemon.config.paths import resolve_paths
    from memproxy_cli.output import console

    row = find_request(resolve_paths().db_file, request_id)
    if as_json:
        typer.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    width = max(len(name) for name, _ in _facts(row))
    for name, value in _facts(row):
        console.print(f"[bold]{name:<{width}}[/]  {escape(value)}")
    sent = messages(row.get("request_json"))
    console.print(Rule("request", align="left"))
    if not sent:
        console.print("[dim](not stored: logging.store_prompts is off, or the request had no body)[/]")
    for role, text in sent:
        console.print(f"[bold cyan]{escape(role)}[/]: {escape(text)}")
    console.print(Rule("answer", align="left"))
    answer = row.get("response_text")
    console.print(escape(answer) if answer else "[dim](none stored)[/]")
