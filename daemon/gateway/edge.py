"""The one error edge: every error a route meets becomes the client's answer here, and only here.

Whatever went wrong (a bad body, an unknown model, a LiteLLM exception, a broken stream, a bug of
ours), the client gets an error in its own dialect with every known key taken out, and the request's
exchange ends exactly once with that error. Routes hand their work to `answer` (no databank row) or
`answer_recorded` (one row); streams are wrapped by `guarded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

from starlette.requests import Request
from starlette.responses import Response

from daemon.dialects import Dialect, error_response
from daemon.errors import GatewayError, InternalError
from daemon.gateway.answers import unreadable
from daemon.gateway.credentials import PLACEHOLDER_KEYS, presented_keys
from daemon.gateway.endpoint import Tally
from daemon.gateway.exchange import Exchange, redact
from daemon.gateway.llm import map_exception
from daemon.gateway.state import Gateway
from daemon.identity import client_name, identify
from daemon.usage.record import UsageRecord

log = logging.getLogger("memproxy.gateway")


def as_gateway_error(exc: BaseException) -> GatewayError:
    """`exc` as the error a client is shown: ours as it is, anything else (a bug of ours) a 500.

    LiteLLM's exceptions never get here unmapped: each call into LiteLLM maps them where it is made."""
    if isinstance(exc, GatewayError):
        return exc
    log.exception("unexpected error serving a request", exc_info=exc)
    return InternalError(f"memproxy failed unexpectedly: {type(exc).__name__}")


def redacted(err: GatewayError, secrets: Iterable[str]) -> GatewayError:
    """`err` with every known key taken out of its message."""
    return err.with_message(redact(err.message, secrets))


def error_answer(exc: BaseException, dialect: Dialect, secrets: Iterable[str], ex: Exchange | None = None) -> Response:
    """The client's answer to `exc`, after ending `ex` (when the request has a row) with it."""
    shown = redacted(as_gateway_error(exc), secrets)
    if ex is not None:
        ex.fail(shown)  # the row never keeps what the client may not see
    return error_response(dialect, shown)


async def answer(request: Request, dialect: Dialect, handle: Callable[[Gateway], Awaitable[Response]]) -> Response:
    """Serve a request that leaves no databank row; any error is answered here."""
    gw: Gateway = request.app.state.gateway
    try:
        return await handle(gw)
    except Exception as exc:
        return error_answer(exc, dialect, _secrets(request, gw))


async def answer_recorded(
    request: Request,
    dialect: Dialect,
    path: str,
    handle: Callable[[Gateway, Exchange], Awaitable[Response]],
) -> Response:
    """Serve a request that gets one databank row: started here, ended by `handle` or by its error."""
    gw: Gateway = request.app.state.gateway
    ex: Exchange | None = None
    try:
        ex = begin(request, gw, path)
        return await handle(gw, ex)
    except Exception as exc:
        return error_answer(exc, dialect, _secrets(request, gw), ex)


def begin(request: Request, gw: Gateway, path: str) -> Exchange:
    """Start tracking a request: who it is for, and the row it will leave."""
    ident = identify(request.headers, gw.settings)
    headers = request.headers
    record = UsageRecord(
        project=ident.project,
        user_id=ident.user_id,
        client=client_name(headers),
        user_agent=headers.get("user-agent"),
        endpoint=path,
    )
    # the live set of keys (a client key seen later in this request is redacted too), and the keys this
    # request presented, used or not
    secrets = _RequestSecrets(_presented(request), gw.secrets)
    return Exchange(record, gw.sink or gw.writer, secrets, ident, gw.settings.logging.max_stored_bytes)


def _presented(request: Request) -> tuple[str, ...]:
    """The keys this request presented (not the placeholder a wrapped tool was given: "memproxy" is no
    secret, and a word in messages)."""
    return tuple(key for key in presented_keys(request.headers) if key not in PLACEHOLDER_KEYS)


def _secrets(request: Request, gw: Gateway) -> list[str]:
    """Every key known now, and those this request presented even if it never got to use them."""
    return [*_presented(request), *gw.secrets]


class _RequestSecrets:
    """One request's redaction set: the keys it presented, then every key the gateway knows when iterated."""

    __slots__ = ("_live", "_presented")

    def __init__(self, presented: tuple[str, ...], live: Iterable[str]) -> None:
        self._presented, self._live = presented, live

    def __iter__(self) -> Iterator[str]:
        yield from self._presented
        yield from self._live


async def guarded(
    relay: AsyncIterator[bytes],
    ex: Exchange,
    tally: Tally,
    error_event: Callable[[GatewayError], bytes],
) -> AsyncIterator[bytes]:
    """`relay`'s bytes passed on; however the stream ends, the exchange ends once, the same way.

    A relay that returns ended properly (ok); one that raises broke (an error event in the client's
    dialect, then the row); a client hanging up cancels it (client_disconnected). A relay that has
    handed on its terminal event (`Tally.complete`) is ok there and then, whatever follows. Tokens seen
    before the end, and the model that answered, are recorded in every case (and so priced by the
    writer thread).
    """
    ended = False  # ok the moment the terminal event is handed on, not when the upstream closes
    try:
        async for chunk in relay:
            yield chunk
            if tally.complete and not ended:
                ended = True
                _ended(ex, tally)
    except (asyncio.CancelledError, GeneratorExit):
        if ended:
            pass
        elif tally.complete:
            # the terminal event was on its way to the client when it hung up: it has the whole answer
            _ended(ex, tally)
        else:
            ex.resolved(tally.model)
            ex.disconnected(tally.usage)
        raise
    except Exception as exc:
        if ended:
            # the client has its whole answer and its row; what the upstream does next is no news
            log.debug("the upstream failed after the end of its stream: %r", exc)
            return
        # whatever broke the stream, it broke while reading the upstream (LiteLLM's iterator or ours)
        err = unreadable(exc, json_errors=True) or map_exception(exc)
        ex.resolved(tally.model)
        ex.fail(err, tally.usage)
        yield error_event(redacted(err, ex.secrets))
    else:
        if not ended:
            _ended(ex, tally)
    finally:
        aclose = getattr(relay, "aclose", None)
        if aclose is not None:
            await aclose()


def _ended(ex: Exchange, tally: Tally) -> None:
    """A stream that ended properly: ok, or the error the upstream itself reported in it."""
    ex.resolved(tally.model)
    if tally.reported is not None:
        # the upstream's own error event already reached the client: record it, add nothing
        ex.fail(tally.reported, tally.usage)
    else:
        ex.succeed(tally.usage, tally.answer(), size=tally.size)
