"""kopf's connections to the API server: a bounded pool, not one per request in flight.

kopf's own session has no connection limit (`aiohttp.TCPConnector(limit=0)`), so
every request kopf makes while others are in flight opens a TLS connection of its
own, and each connection carries asyncio's 256 KiB TLS read buffer. In a burst of
1,000 GoImageBuilds about 300 of kopf's PATCHes (its diffbase annotation) were in
flight at once: 76 MiB of buffers, a third of the operator's peak (memray, the
burst of `make bench`), and a TLS handshake for most of them.

kopf lets a login handler hand it a session of its own (`kopf.AiohttpSession`).
This one logs in as kopf's default does (`kopf.login_via_client`: in-cluster
service account, else kubeconfig) and makes the same session with a limit: room
for every watch stream kopf keeps open (one per watched kind and namespace; a
stream holds its connection) plus `REQUEST_CONNECTIONS` for everything else,
which queue for a free connection instead of opening more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import kopf

REQUEST_CONNECTIONS = 16
# Beside the operator's own kinds: kopf's watch of CustomResourceDefinitions and its
# peering objects.
KOPF_OWN_WATCHES = 2

_watched_namespaces: tuple[str, ...] = ()


def connection_limit(kinds: int, namespaces: Sequence[str]) -> int:
    """Connections for `kinds` watched in `namespaces` (none: cluster-wide), and requests.

    An upper bound of the streams: a cluster-scoped kind is watched once even when
    namespaces are listed.
    """
    streams = (kinds + KOPF_OWN_WATCHES) * max(1, len(namespaces))
    return streams + REQUEST_CONNECTIONS


def attach(namespaces: Sequence[str]) -> None:
    """The namespaces kopf is told to watch (none: cluster-wide), for the limit."""
    global _watched_namespaces
    _watched_namespaces = tuple(namespaces)


def watched_kinds(registry: kopf.OperatorRegistry) -> int:
    """How many kinds the operator's handlers watch."""
    return len(
        registry._indexing.get_all_selectors()
        | registry._watching.get_all_selectors()
        | registry._changing.get_all_selectors()
        | registry._spawning.get_all_selectors()
    )


def bounded_session(info: kopf.ConnectionInfo, limit: int) -> kopf.AiohttpSession:
    """kopf's session for `info` (as kopf makes it), with at most `limit` connections."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
        aiohttp_session=session,
    )


@kopf.on.login()
async def login(
    *, logger: kopf.Logger, settings: kopf.OperatorSettings, **_: Any
) -> kopf.AiohttpSession | None:
    info = kopf.login_via_client(logger=logger, settings=settings)
    if info is None:
        return None
    limit = connection_limit(watched_kinds(kopf.get_default_registry()), _watched_namespaces)
    logger.debug("API connections: at most %d", limit)
    return bounded_session(info, limit)
