"""The Segmind account watched for the owner: the key checked at start-up, and low credits
warned of at most once a day, read from the free credits endpoint and from each paid call."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from bot.domain.quotas import DAY_SECONDS
from bot.engine.cards import present
from bot.engine.presenter import Presenter
from bot.segmind import AccessDenied, SegmindClient, SegmindError
from bot.storage.job_store import JobStore

log = logging.getLogger(__name__)

# The balance is read at start-up and then this often, besides after every paid call: a
# quiet bot still warns before its credits run out.
CHECK_SECONDS = 3600.0
# The balance as the free endpoint last gave it, {"credits": dollars, "at": epoch}, in
# bot_state: /status shows it, whichever process answers.
BALANCE_FACT = "segmind_balance"


class CreditWatch:
    def __init__(
        self,
        client: SegmindClient,
        presenter: Presenter,
        *,
        threshold: float | None,
        store: JobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._store = store
        self._presenter = presenter
        self.threshold = threshold
        self._clock = clock
        self._warned_at = float("-inf")
        self._key_refused = False

    async def watch_forever(self) -> None:
        """Read the balance now and then every CHECK_SECONDS, off every request's path."""
        while True:
            await self.check_account()
            await asyncio.sleep(CHECK_SECONDS)

    async def check_account(self) -> None:
        """Ask Segmind (for free) whether it takes the key, and how much credit is left."""
        try:
            remaining = await self._client.credits()
        except AccessDenied as error:
            if error.status != 401:
                log.warning("could not read the Segmind balance: %s %s", error.status, error)
                return
            log.error(
                "Segmind refused SEGMIND_API_KEY (%s): every generation will pause until the "
                "key is fixed",
                error.message,
            )
            if not self._key_refused:
                self._key_refused = True  # one alert per process, not one an hour
                await present(
                    self._presenter.alert_owner(
                        f"🔑 Segmind refused the bot's API key ({error.message}). Requests "
                        "will pause until `SEGMIND_API_KEY` holds a valid key: create one at "
                        "Segmind's console (Developer → API Keys) and restart the bot."
                    )
                )
            return
        except SegmindError as error:
            log.warning("could not read the Segmind balance: %s", error.message)
            return
        if remaining is None:
            log.info("Segmind takes the API key; it keeps no credit balance for the account")
            return
        log.info("Segmind takes the API key; %.2f credits left", remaining)
        await self._remember(remaining)
        await self.note_balance(remaining)

    async def _remember(self, remaining: float) -> None:
        if self._store is None:
            return
        try:
            await self._store.set_fact(
                BALANCE_FACT, json.dumps({"credits": remaining, "at": self._clock()})
            )
        except Exception as error:  # only /status misses it
            log.warning("could not keep the Segmind balance: %s", error)

    async def note_balance(self, remaining: float | None) -> None:
        """Warn the owner, at most once a day, when the account's credits run low."""
        threshold = self.threshold
        now = self._clock()
        if remaining is None or threshold is None or remaining >= threshold:
            return
        if now - self._warned_at < DAY_SECONDS:
            return
        self._warned_at = now
        await present(
            self._presenter.alert_owner(
                f"⚠️ The bot's Segmind credits are running low: {remaining:.2f} left "
                f"(warning below {threshold:.2f}). Top up before they run out."
            )
        )
