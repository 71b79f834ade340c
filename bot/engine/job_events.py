"""What an operator reads of a job's life and of the engine's: one searchable line (bot/logfmt.py)
per ended job, pause, takeover and start, never naming who asked or what for, and the same
events counted for the Prometheus endpoint (bot/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot import logfmt
from bot.metrics import Metrics
from bot.storage.job_store import Job

Outcome = Literal["delivered", "failed", "cancelled"]
# "maybe": a call Segmind may have charged without a result (the ledger keeps it as unsure).
Billed = Literal["true", "false", "maybe"]


@dataclass(frozen=True)
class JobEvents:
    """The events of one process: its role (BOT_ROLE) and its name as an owner of jobs (the
    `from=` of a takeover names the same) are on each of its lines."""

    role: str
    instance: str
    metrics: Metrics = field(default_factory=Metrics)

    def job_end(self, job: Job, outcome: Outcome, billed: Billed, now: float) -> None:
        """`at=job_end`: the job's outcome, whether it was paid for, and its seconds waiting
        in the queue, generating (up to the result or the failure) and being delivered."""
        started, generated = job.started_at, job.generated_at
        cost = 0.0 if billed == "false" else job.cost
        gen_s = None if started is None else (generated or now) - started
        logfmt.event(
            "job_end",
            job=job.id,
            outcome=outcome,
            billed=billed,
            cost=cost,
            wait_s=(started if started is not None else now) - job.created_at,
            gen_s=gen_s,
            deliver_s=None if generated is None else now - generated,
            attempts=job.attempts,
            role=self.role,
            instance=self.instance,
        )
        self.metrics.job_ended(outcome, billed, cost, gen_s if generated is not None else None)

    def takeover(self, job_id: int, previous: str | None, state: str) -> None:
        """`at=takeover`: a started job whose process stopped renewing it, now this one's
        (`state=queued`: a cut-off call holding no result, put back in its place)."""
        logfmt.event(
            "takeover",
            job=job_id,
            **{"from": previous},
            state=state,
            role=self.role,
            instance=self.instance,
        )

    def pause(self, reason: str, by: str) -> None:
        """`at=pause`: generation held for everyone, by the API's answer or the owner."""
        logfmt.event("pause", reason=reason, by=by, role=self.role, instance=self.instance)

    def resume(self) -> None:
        """`at=resume`: the owner lifted the pause."""
        logfmt.event("resume", role=self.role, instance=self.instance)

    def start(self, version: str) -> None:
        """`at=start`: a process of the bot began its work."""
        logfmt.event("start", role=self.role, instance=self.instance, version=version)

    def segmind_error(self, error: Exception) -> None:
        self.metrics.segmind_errors.labels(error_kind(error)).inc()

    def discord_error(self, error: Exception) -> None:
        self.metrics.discord_errors.labels(error_kind(error)).inc()


def error_kind(error: Exception) -> str:
    """An error's kind as a metric's label: its class, and Discord's code or the HTTP status
    when it has one (`Forbidden:50013`, `DiscordServerError:503`): a few values, never text."""
    kind = type(error).__name__
    code, status = getattr(error, "code", None), getattr(error, "status", None)
    if isinstance(code, int) and code:
        return f"{kind}:{code}"
    # Only an error status: a success answer holding no image is InvalidResult alone.
    return f"{kind}:{status}" if isinstance(status, int) and status >= 400 else kind
