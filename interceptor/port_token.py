"""The token project ports require on a machine shared with other users (`interceptor.auth: token`).

By default a project port serves anyone who can connect to 127.0.0.1, and every local user can: on a
shared machine each of them could spend the owner's provider keys. With `interceptor.auth: token`
a port serves only requests that present this token as their API key (`Authorization: Bearer`,
`x-api-key`, `x-goog-api-key` or `x-memproxy-key`: tools can set a key, not a header; on a Gemini
route, `/v1beta/...`, also the `key` query parameter, where Google's SDKs may put it). The token is
made at the first start (32 random bytes), kept 0600 in memproxy's 0700 home, so only its owner reads
it; `memproxy intercept` hands it to the command as its key, and `memproxy ports token` prints it
for an IDE's settings. The port takes it off the request: it never reaches the gateway's log or an
upstream, where the gateway's own key is used instead.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from urllib.parse import unquote_plus

from daemon.config.paths import Paths
from daemon.errors import ConfigError

PREFIX = "mpt-"
# where a tool may put its key; the Bearer form is read from Authorization
KEY_HEADERS = (b"x-api-key", b"x-goog-api-key", b"x-memproxy-key")


def port_token(paths: Paths) -> str:
    """The owner's port token, made (0600, never through a symlink) if there is none yet."""
    path = paths.port_token_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(PREFIX + secrets.token_urlsafe(32) + "\n")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            token = f.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the port token {path}: {exc.strerror}") from exc
    if not token.startswith(PREFIX):
        raise ConfigError(f"the port token {path} is damaged; delete it and restart memproxy for a new one")
    return token


def presented(headers: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """Every key a request carries where a tool puts its API key."""
    keys = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"authorization" and value[:7].lower() == b"bearer ":
            keys.append(value[7:].strip())
        elif lowered in KEY_HEADERS:
            keys.append(value.strip())
    return keys


def carries(headers: Iterable[tuple[bytes, bytes]], token: bytes) -> bool:
    return any(hmac.compare_digest(key, token) for key in presented(headers))


def without(headers: Iterable[tuple[bytes, bytes]], token: bytes) -> list[tuple[bytes, bytes]]:
    """`headers` minus every key header that holds the token (it must go no further than the port)."""
    return [(name, value) for name, value in headers if not carries([(name, value)], token)]


def _query_key(part: bytes, token: bytes) -> bool:
    name, _, value = part.partition(b"=")
    if unquote_plus(name.decode("latin-1")) != "key":
        return False
    return hmac.compare_digest(unquote_plus(value.decode("latin-1")).encode("latin-1", "replace"), token)


def query_carries(query: bytes, token: bytes) -> bool:
    """Whether a raw query string holds the token as `key=` (Gemini's key parameter)."""
    return any(_query_key(part, token) for part in query.split(b"&"))


def query_without(query: bytes, token: bytes) -> bytes:
    """`query` minus every `key=` that holds the token, the rest byte for byte."""
    return b"&".join(part for part in query.split(b"&") if not _query_key(part, token))
