"""The Segmind part of the setup check: the key and the balance, through Segmind's free
account endpoint (no generation is paid for), and how many generations the balance buys."""

from __future__ import annotations

import math

import aiohttp

from bot.check.findings import Finding, fail, ok, warn
from bot.segmind import AccessDenied, SegmindClient, SegmindError
from bot.settings import Settings

AREA = "segmind"
# Fewer generations left than this, and the owner hears of it before users do.
FEW_GENERATIONS = 10
KEYS_PAGE = "https://cloud.segmind.com/console/api-keys"
BILLING_PAGE = "https://cloud.segmind.com/console/billing"
# Statuses of the account endpoint that mean the key itself is refused.
KEY_REFUSED = (401, 403)


async def segmind_findings(session: aiohttp.ClientSession, settings: Settings) -> list[Finding]:
    # The bot's own client: the same request, and the same meaning of each answer, as the
    # hourly balance check of a running bot.
    client = SegmindClient(
        session,
        api_key=settings.segmind_api_key,
        base_url=settings.segmind_base_url,
        model=settings.segmind_model,
    )
    try:
        balance = await client.credits()
    except AccessDenied as error:
        if error.status not in KEY_REFUSED:
            return [_unreadable(settings, error)]
        return [
            fail(
                AREA,
                f"Segmind refused SEGMIND_API_KEY (HTTP {error.status}): it is wrong, expired "
                "or revoked",
                f"copy a key from {KEYS_PAGE} into SEGMIND_API_KEY",
            )
        ]
    except (SegmindError, aiohttp.ClientError, TimeoutError) as error:
        return [_unreadable(settings, error)]
    if balance is None:
        return [
            ok(AREA, "SEGMIND_API_KEY accepted"),
            warn(AREA, "Segmind keeps no balance for this account", f"add credits: {BILLING_PAGE}"),
        ]
    cost = settings.cost_per_generation_usd
    buys = math.floor(balance / cost + 1e-9) if cost > 0 else None
    shown = f"balance ${balance:.2f}"
    if buys is not None:
        shown += f": {buys} generation(s) at ${cost:g} each"
    findings = [ok(AREA, "SEGMIND_API_KEY accepted")]
    if buys == 0:
        findings.append(
            fail(AREA, f"{shown}: every request would be refused", f"add credits: {BILLING_PAGE}")
        )
    elif (buys is not None and buys < FEW_GENERATIONS) or (
        settings.low_credits_warning is not None and balance < settings.low_credits_warning
    ):
        findings.append(warn(AREA, f"{shown}: running low", f"add credits: {BILLING_PAGE}"))
    else:
        findings.append(ok(AREA, shown))
    return findings


def _unreadable(settings: Settings, error: Exception) -> Finding:
    return fail(
        AREA,
        f"cannot read the balance at {settings.segmind_base_url}: "
        f"{str(error) or type(error).__name__}",
        "check SEGMIND_BASE_URL and the network, then run the check again",
    )
