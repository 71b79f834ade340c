"""`GET /metrics` for Prometheus, served only when METRICS_PORT is set. Its own module: the
web server part of aiohttp (about 2 MB of a 512 MB dyno) is loaded only by the bots that serve
metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import Metrics

log = logging.getLogger(__name__)


class MetricsServer:
    """`GET /metrics` on the bot's own aiohttp, at `host:port`; `refresh` reads what is read at
    each scrape (the queue's depth, the gateway's latency) before the answer."""

    def __init__(
        self, metrics: Metrics, refresh: Callable[[], Awaitable[None]], host: str, port: int
    ) -> None:
        self._metrics = metrics
        self._refresh = refresh
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; a port taken or an address that is not this machine's is logged in one
        line and the bot runs on without metrics (its requests matter more)."""
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "cannot serve metrics at %s:%d (%s); set METRICS_PORT to a free port, or "
                "leave it empty; the bot runs on without metrics",
                self._host,
                self._port,
                error.strerror or error,
            )
            return
        self._runner = runner
        log.info("serving Prometheus metrics at http://%s:%d/metrics", self._host, self._port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, request: web.Request) -> web.Response:
        try:
            await self._refresh()
        except Exception as error:  # the database away: the counters are still worth reading
            log.warning("metrics: could not read the queue's depth (%s)", type(error).__name__)
        return web.Response(
            body=self._metrics.text(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
