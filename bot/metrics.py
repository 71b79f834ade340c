"""The optional Prometheus endpoint (METRICS_PORT): jobs by outcome, generation seconds, queue
depth, spend, Discord and Segmind errors by kind, gateway latency. Counted always (it costs
next to nothing), served only when a port is set."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

# A generation takes about 37 s; the API's timeout is at most 840 s.
GENERATION_BUCKETS = (5, 10, 20, 30, 40, 50, 60, 90, 120, 180, 300, 600, 840)


class Metrics:
    """This process's metrics, in a registry of its own (several bots may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.jobs = Counter(
            "posebot_jobs_ended",
            "Jobs ended by this process, by outcome and whether Segmind charged for them",
            ["outcome", "billed"],
            registry=registry,
        )
        self.generation_seconds = Histogram(
            "posebot_generation_seconds",
            "Seconds from a job's start to its stored result",
            buckets=GENERATION_BUCKETS,
            registry=registry,
        )
        self.spend = Counter(
            "posebot_spend_dollars",
            "US dollars charged (billed=true) or perhaps charged (billed=maybe) for jobs that "
            "ended in this process",
            ["billed"],
            registry=registry,
        )
        self.segmind_errors = Counter(
            "posebot_segmind_errors",
            "Segmind's error answers met by jobs, by kind",
            ["kind"],
            registry=registry,
        )
        self.discord_errors = Counter(
            "posebot_discord_errors",
            "Discord's refusals and failures met posting results and notices, by kind",
            ["kind"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "posebot_queue_depth",
            "Jobs waiting in the shared queue (every process's), read at each scrape",
            registry=registry,
        )
        self.gateway_latency = Gauge(
            "posebot_gateway_latency_seconds",
            "The Discord gateway's heartbeat latency, as of the scrape (absent without a gateway)",
            registry=registry,
        )

    def job_ended(self, outcome: str, billed: str, cost: float, gen_s: float | None) -> None:
        self.jobs.labels(outcome, billed).inc()
        if billed != "false":
            self.spend.labels(billed).inc(cost)
        if gen_s is not None:
            self.generation_seconds.observe(gen_s)

    def note_latency(self, seconds: float) -> None:
        if math.isfinite(seconds):
            self.gateway_latency.set(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)


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
