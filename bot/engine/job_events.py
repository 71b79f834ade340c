"""The searchable lines of a job's life and of the engine's (bot/logfmt.py): one `at=job_end`
per ended job, with what it cost and where its time went, and never who asked or what for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot import logfmt
from bot.storage.job_store import Job

Outcome = Literal["delivered", "failed", "cancelled"]
# "maybe": a call Segmind may have charged without a result (the ledger keeps it as unsure).
Billed = Literal["true", "false", "maybe"]


@dataclass(frozen=True)
class ProcessName:
    """Which process a line comes from: its role (BOT_ROLE) and its name as an owner of jobs
    (the `from=` of a takeover names the same)."""

    role: str
    instance: str


def job_end(job: Job, outcome: Outcome, billed: Billed, now: float, process: ProcessName) -> None:
    """`at=job_end`: the job's outcome, whether it was paid for, and its seconds waiting in
    the queue, generating (up to the result or the failure) and being delivered."""
    started, generated = job.started_at, job.generated_at
    logfmt.event(
        "job_end",
        job=job.id,
        outcome=outcome,
        billed=billed,
        cost=0.0 if billed == "false" else job.cost,
        wait_s=(started if started is not None else now) - job.created_at,
        gen_s=None if started is None else (generated if generated is not None else now) - started,
        deliver_s=None if generated is None else now - generated,
        attempts=job.attempts,
        role=process.role,
        instance=process.instance,
    )


def takeover(job_id: int, previous: str | None, state: str, process: ProcessName) -> None:
    """`at=takeover`: a started job whose process stopped renewing it, now this one's
    (`state=queued`: a cut-off call holding no result, put back in its place)."""
    logfmt.event(
        "takeover",
        job=job_id,
        **{"from": previous},
        state=state,
        role=process.role,
        instance=process.instance,
    )


def pause(reason: str, by: str, process: ProcessName) -> None:
    """`at=pause`: generation held for everyone, by the API's answer or the owner."""
    logfmt.event("pause", reason=reason, by=by, role=process.role, instance=process.instance)


def start(version: str, process: ProcessName) -> None:
    """`at=start`: a process of the bot began its work."""
    logfmt.event("start", role=process.role, instance=process.instance, version=version)
