"""handlers/api_session.py: kopf talks to the API server over a bounded pool of connections."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from aiohttp import web
from kopf._core.intents import causes

from goimage import runner
from goimage.handlers import api_session

# The kinds the operator's handlers watch.
OPERATOR_KINDS = {"goimagebuilds", "goimagebuildpolicies", "jobs", "pods", "namespaces"}


def test_the_operator_logs_in_only_through_its_bounded_session() -> None:
    registry = kopf.get_default_registry()
    login = list(registry._activities.get_handlers(activity=causes.Activity.AUTHENTICATION))
    # kopf's own login handlers are fallbacks: used only when no other is registered.
    assert [handler.fn for handler in login] == [api_session.login]
    assert api_session in runner.HANDLER_MODULES


def test_the_limit_leaves_room_for_every_watch_stream() -> None:
    kinds = api_session.watched_kinds(kopf.get_default_registry())
    assert kinds == len(OPERATOR_KINDS)
    streams = kinds + api_session.KOPF_OWN_WATCHES
    requests = api_session.REQUEST_CONNECTIONS
    assert api_session.connection_limit(kinds, []) == streams + requests
    # Each listed namespace has its own streams.
    assert api_session.connection_limit(kinds, ["a", "b", "c"]) == 3 * streams + requests


def _connection_info(server: str) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(server=server, scheme="Bearer", token="secret-token")


@pytest.mark.parametrize("limit", [3, 8])
def test_requests_beyond_the_limit_wait_for_a_connection(limit: int) -> None:
    """A real HTTP server on loopback counts the connections open at once while 30
    requests are in flight through the session."""

    async def scenario() -> tuple[int, set[str], int]:
        open_now: set[Any] = set()
        most = 0
        authorizations: set[str] = set()

        async def slow(request: web.Request) -> web.Response:
            nonlocal most
            open_now.add(request.transport)
            most = max(most, len(open_now))
            authorizations.add(request.headers.get("Authorization", ""))
            await asyncio.sleep(0.05)
            open_now.discard(request.transport)
            return web.json_response({})

        app = web.Application()
        app.router.add_patch("/{tail:.*}", slow)
        app_runner = web.AppRunner(app)
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0)
        await site.start()
        port = app_runner.addresses[0][1]
        context = api_session.bounded_session(_connection_info(f"http://127.0.0.1:{port}"), limit)
        session = context.aiohttp_session
        try:

            async def patch(index: int) -> int:
                async with session.patch(f"{context.server}/objects/{index}", json={}) as reply:
                    return reply.status

            statuses = await asyncio.gather(*(patch(index) for index in range(30)))
        finally:
            await session.close()
            await app_runner.cleanup()
        assert statuses == [200] * 30
        return most, authorizations, len(statuses)

    most, authorizations, done = asyncio.run(scenario())
    assert done == 30
    assert 1 < most <= limit
    assert authorizations == {"Bearer secret-token"}


def test_the_session_keeps_what_kopf_needs_of_the_login() -> None:
    async def scenario() -> tuple[kopf.AiohttpSession, int]:
        info = kopf.ConnectionInfo(
            server="https://127.0.0.1:6443", token="t", default_namespace="ns", priority=5
        )
        context = api_session.bounded_session(info, 23)
        connector = context.aiohttp_session.connector
        assert connector is not None
        await context.aiohttp_session.close()
        return context, connector.limit

    context, limit = asyncio.run(scenario())
    assert limit == 23
    assert context.server == "https://127.0.0.1:6443"
    assert context.default_namespace == "ns"
    assert context.priority == 5
