"""What the optional Prometheus endpoint (METRICS_PORT) shows: jobs by outcome, generation
seconds, queue depth, spend, Discord and Segmind errors by kind, gateway latency. Counted always
(it costs next to nothing), served only when a port is set (bot/metrics_server.py)."""

from __future__ import annotations

import logging
import math

from prometheus_client import (
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
