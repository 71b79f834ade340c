"""The daily quotas of /pose, decided in one place: each member's generations, each server's, and
the bot's budget, over a rolling 24 hours.

/pose, the result buttons, "Pose this character" and /usage all ask `daily_quotas`, so what
/usage says is left is what /pose allows. Each quota is one function from the spend it counts
to a `Quota`; a refusal says why and when the quota frees up, and leaves the wording of the
moment to the caller (Discord shows it as a relative timestamp).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.settings import Settings

from bot.domain.server_rules import ServerSettings
from bot.domain.translatable import mark

# What a refusal says when no moment is known for it to free up.
LATER = mark("later")
# Caps, budgets and warnings all look back over this rolling window.
DAY_SECONDS = 24 * 60 * 60

# Dollars are summed in floating point: a budget of exactly n generations must allow n.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Spend:
    generations: int  # billed, or reserved by an unfinished job
    dollars: float  # every call paid or perhaps paid, and every reservation
    oldest: float | None  # the oldest counted generation: the window frees from it
    # Calls that may have been billed without a result (a timeout, a damaged image): they
    # count in dollars (the budget), never in a member's or a server's generations.
    unsure: int = 0
    oldest_dollar: float | None = None  # the oldest of any dollar counted, unsure ones too

    @property
    def dollars_free_from(self) -> float | None:
        return self.oldest_dollar if self.oldest_dollar is not None else self.oldest


class SpendLedger(Protocol):
    """Where the spend is counted (bot/storage/spend_ledger.py): asked, never imported, so
    that the rules stay free of storage."""

    async def spend_since(
        self, since: float, requester_id: int | None = None, guild_id: int | None = None
    ) -> Spend: ...


@dataclass(frozen=True)
class Refusal:
    """Why a request may not start now, written for the user (marked for translation, its
    other placeholders filled from `values`); "{when}" in `reason` stands for the moment it
    frees up, `frees_at` (None: no moment is known)."""

    reason: str
    frees_at: float | None = None
    values: dict[str, object] = field(default_factory=dict)

    def message(self, when: Callable[[float], str]) -> str:
        """The reason in English, with `frees_at` written by `when` (e.g. a Discord relative
        timestamp)."""
        moment = when(self.frees_at) if self.frees_at is not None else LATER
        return self.reason.format(when=moment, **self.values)


@dataclass(frozen=True)
class Quota:
    """One daily quota as it stands: its limit and what is used of it (generations, or dollars
    for the budget), how many more requests it lets start, and, when none, why not."""

    name: str  # how /usage names it: "This server's daily cap"
    limit: float
    used: float
    left: float  # whole requests; math.inf when the quota cannot run out
    spend: Spend  # the figures it was decided from
    refusal: Refusal | None = None


@dataclass(frozen=True)
class DailyQuotas:
    """Every daily quota that applies to one member in one server."""

    member: Quota
    server: Quota | None = None  # None: the server sets no cap
    budget: Quota | None = None  # None: the bot's owner sets no budget

    @property
    def quotas(self) -> tuple[Quota, ...]:
        return tuple(q for q in (self.member, self.server, self.budget) if q is not None)

    @property
    def refusal(self) -> Refusal | None:
        """The first quota's refusal, the member's own before the server's and the budget's."""
        return next((q.refusal for q in self.quotas if q.refusal is not None), None)

    @property
    def tightest(self) -> Quota:
        """The quota with the fewest requests left (the member's own on a tie)."""
        return min(self.quotas, key=lambda q: q.left)

    @property
    def left(self) -> float:
        """How many more requests may start today, all quotas taken together."""
        return self.tightest.left


class OverQuota(Exception):
    """A request refused by a quota when the job was to be stored."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


@dataclass(frozen=True)
class QuotaRules:
    """The quotas one request is held to, read from the settings and its server."""

    member_limit: int  # the server's per-member cap or USER_DAILY_LIMIT
    server_cap: int | None
    budget: float | None
    price: float
    max_queued: int
    window: float = DAY_SECONDS


def rules_for(settings: Settings, server: ServerSettings | None) -> QuotaRules:
    return QuotaRules(
        member_limit=(server.user_cap if server else None) or settings.user_daily_limit,
        server_cap=server.daily_cap if server is not None and server.guild_id else None,
        budget=settings.daily_budget_usd,
        price=settings.cost_per_generation_usd,
        max_queued=settings.user_max_queued,
    )


def decide(
    rules: QuotaRules, mine: Spend, here: Spend | None, everyone: Spend | None
) -> DailyQuotas:
    """Every daily quota from the spend it counts: `here` is the server's (None: no cap),
    `everyone` the bot's (None: no budget)."""
    member = member_quota(mine, rules.member_limit)
    server = None
    if rules.server_cap is not None and here is not None:
        server = server_quota(here, rules.server_cap)
    budget = None
    if rules.budget is not None and everyone is not None:
        budget = budget_quota(everyone, rules.budget, rules.price)
    return DailyQuotas(member, server, budget)


def room_for(quotas: DailyQuotas, count: int) -> Refusal | None:
    """Whether `count` requests taken together fit every quota: all of them, or none."""
    if quotas.refusal is not None or count <= 1:
        return quotas.refusal
    if quotas.left >= count:
        return None
    return Refusal(
        mark(
            "This needs {count} generations, but only {left} are left today "
            "({quota}); nothing was started."
        ),
        values={"count": count, "left": int(quotas.left), "quota": quotas.tightest.name},
    )


def queue_refusal(waiting: int, limit: int) -> Refusal | None:
    """A member may have `limit` requests waiting at once."""
    if waiting < limit:
        return None
    return Refusal(
        mark("You already have {limit} requests waiting. Please wait for one to start."),
        values={"limit": limit},
    )


def member_quota(mine: Spend, limit: int) -> Quota:
    """A member's generations: `limit` is the server's per-member cap or USER_DAILY_LIMIT."""
    left = max(0, limit - mine.generations)
    refusal = None
    if left == 0:
        refusal = Refusal(
            mark("You have used your {limit} generations for today; the next one frees up {when}."),
            _frees_at(mine),
            {"limit": limit},
        )
    return Quota(mark("Your daily limit"), limit, mine.generations, left, mine, refusal)


def server_quota(here: Spend, cap: int) -> Quota:
    """A server's generations, all its members together."""
    left = max(0, cap - here.generations)
    refusal = None
    if left == 0:
        refusal = Refusal(
            mark(
                "This server's {cap} generations for today are used; the next one frees up {when}."
            ),
            _frees_at(here),
            {"cap": cap},
        )
    return Quota(mark("This server's daily cap"), cap, here.generations, left, here, refusal)


def budget_quota(everyone: Spend, budget: float, price: float) -> Quota:
    """The bot's dollars, everyone's generations together; a request reserves `price`."""
    room = budget - everyone.dollars
    if price > 0:
        left: float = max(0, math.floor(room / price + _EPSILON))
    else:
        left = math.inf if room > -_EPSILON else 0
    refusal = None
    if left == 0:
        frees_at = everyone.dollars_free_from
        frees_at = frees_at + DAY_SECONDS if frees_at is not None else None
        if frees_at is None:  # nothing spent, and still no room: the budget is below one price
            reason = mark("The bot's daily budget (${budget}) is less than one generation costs.")
        else:
            reason = mark(
                "The bot's daily budget (${budget}) is used up; generation opens again {when}."
            )
        refusal = Refusal(reason, frees_at, {"budget": f"{budget:.2f}"})
    return Quota(mark("The bot's daily budget"), budget, everyone.dollars, left, everyone, refusal)


async def daily_quotas(
    store: SpendLedger,
    settings: Settings,
    server: ServerSettings | None,
    user_id: int,
    now: float,
) -> DailyQuotas:
    """Every daily quota for `user_id` in `server` (None: outside any server), from the spend
    the ledger counts: an accepted request counts at once, a billed one for good, a failed
    (unbilled) or cancelled one not. The store decides again when it inserts the job."""
    rules = rules_for(settings, server)
    since = now - rules.window
    mine = await store.spend_since(since, requester_id=user_id)
    here = None
    if server is not None and rules.server_cap is not None:
        here = await store.spend_since(since, guild_id=server.guild_id)
    everyone = await store.spend_since(since) if rules.budget is not None else None
    return decide(rules, mine, here, everyone)


def _frees_at(spend: Spend) -> float | None:
    """When the oldest counted request leaves the window, giving back what it took."""
    return spend.oldest + DAY_SECONDS if spend.oldest is not None else None
