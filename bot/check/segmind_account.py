"""The Segmind part of the setup check: the key and the balance, through Segmind's free
account endpoint (no generation is paid for), and how many generations the balance buys."""

from __future__ import annotations

import math

import aiohttp
from yarl import URL

from bot.check.findings import Finding, fail, ok, warn
from bot.settings import Settings

AREA = "segmind"
_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
# Fewer generations left than this, and the owner hears of it before users do.
FEW_GENERATIONS = 10
KEYS_PAGE = "https://cloud.segmind.com/console/api-keys"
BILLING_PAGE = "https://cloud.segmind.com/console/billing"


class KeyRefused(Exception):
    """401 or 403 from the account endpoint: the key is wrong, expired or not allowed."""


async def fetch_credits(session: aiohttp.ClientSession, settings: Settings) -> float | None:
    """The balance in dollars, or None when Segmind keeps none for the account (404 "No
    credits found"). The one call this check makes to Segmind: `SegmindClient.credits()`
    can take its place."""
    url = URL(settings.segmind_base_url) / "v1" / "get-user-credits"
    # No redirect is followed: it would carry the key to wherever it points.
    async with session.get(
        url,
        headers={"x-api-key": settings.segmind_api_key},
        timeout=_TIMEOUT,
        allow_redirects=False,
    ) as response:
        if response.status in (401, 403):
            raise KeyRefused(f"HTTP {response.status}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=response.reason or ""
            )
        data = await response.json(content_type=None)
    value = data.get("credits") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("the answer holds no balance")
    return float(value)


async def segmind_findings(session: aiohttp.ClientSession, settings: Settings) -> list[Finding]:
    try:
        balance = await fetch_credits(session, settings)
    except KeyRefused as error:
        return [
            fail(
                AREA,
                f"Segmind refused SEGMIND_API_KEY ({error}): it is wrong, expired or revoked",
                f"copy a key from {KEYS_PAGE} into SEGMIND_API_KEY",
            )
        ]
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        return [
            fail(
                AREA,
                f"cannot read the balance at {settings.segmind_base_url}: "
                f"{str(error) or type(error).__name__}",
                "check SEGMIND_BASE_URL and the network, then run the check again",
            )
        ]
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
