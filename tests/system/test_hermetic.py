"""The suite's own guarantee: a test that tries to leave the machine fails instead."""

from __future__ import annotations

import socket

import aiohttp
import pytest


def test_a_connection_beyond_loopback_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="only loopback"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(AssertionError, match="only loopback"):
        socket.getaddrinfo("example.com", 443)


async def test_an_http_call_beyond_loopback_fails_the_test() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AssertionError, match="only loopback"):
            await session.get("http://example.com/")


def test_loopback_stays_open() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname(), timeout=1):
        pass
