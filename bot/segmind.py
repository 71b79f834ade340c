"""The Segmind API client: one request path, typed errors, sync (v1) and async (v2) modes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from bot.backoff import Backoff
from bot.domain.images import CheckedImage, NotAnImage, generated_cost, read_generated
from bot.domain.tickets import Ticket
from bot.memory import MemoryBudget, OverBudget

log = logging.getLogger(__name__)

# Statuses that mean the request was not processed: safe to send again (only 200s are billed).
RETRYABLE_STATUSES = (500, 502, 503)
# Headers worth keeping in the job log; none of them is secret.
USAGE_HEADERS = (
    "x-request-id",
    "x-cost",
    "x-remaining-credits",
    "x-generation-time",
    "x-seed-value",
    "x-rate-limit-remaining",
)
_SUBMIT_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
_POLL_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
_MAX_MESSAGE = 300
# A team spend limit's 406, told apart from the others by its words alone.
_SPEND_LIMIT = re.compile(r"\b(spend|spending|team)\b.*\b(limit|cap)\b|\b(limit|cap)\b.*\bspend")


class SegmindError(Exception):
    """A call that did not produce an image. `status` is the HTTP status, if there was one."""

    # Whether the API may have run (and billed) the generation although no image arrived.
    may_have_billed = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequest(SegmindError):
    """400: the API refused the parameters; its reason is safe to show the user."""


class AccessDenied(SegmindError):
    """401, 403 or 404: the key, its permissions or the model name are wrong."""


class OutOfCredits(SegmindError):
    """406 "Insufficient credits": the balance is below what the call costs (not only zero)."""


class SpendLimitReached(SegmindError):
    """406: the Segmind team's spend limit for the period (day, month) is reached."""


class ModelRetired(SegmindError):
    """410: Segmind has retired the model; no retry will ever reach it."""


class ResultExpired(SegmindError):
    """A poll answered 404 ("Request … not found"): the accepted request's record expired
    before its result was collected. The submit was accepted, so it may have been billed."""

    may_have_billed = True


class RateLimited(SegmindError):
    """429. `retry_at` is the epoch time the API said to come back, if it said."""

    def __init__(self, message: str, retry_at: float | None) -> None:
        super().__init__(message, 429)
        self.retry_at = retry_at


class Unavailable(SegmindError):
    """The API kept failing (5xx, connection errors) after the allowed retries."""


class TimedOut(SegmindError):
    """504 or no answer in time: the generation may have run, so it is not sent again."""

    may_have_billed = True


class GenerationFailed(SegmindError):
    """An async generation that the API reports as FAILED (422). The inference ran and
    failed: Segmind charges nothing for it (its answer carries no cost fields)."""


class InvalidResult(SegmindError):
    """A success answer that holds no usable image."""

    may_have_billed = True


@dataclass(frozen=True)
class Generation:
    image: CheckedImage
    usage: Mapping[str, str]


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class SegmindClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str,
        model: str,
        mode: str = "sync",
        timeout: float = 180.0,
        poll_interval: float = 2.0,
        server_retries: int = 2,
        retry_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        memory: MemoryBudget | None = None,
    ) -> None:
        self._session = session
        self._api_key = api_key
        self._base = URL(base_url)
        self._model = model
        self._mode = mode
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._server_retries = server_retries
        self._retry_delay = retry_delay
        self._clock = clock
        self._sleep = sleep
        # The process's budget for decoding images (bot/memory.py); None: unbounded.
        self._memory = memory

    async def generate(
        self,
        body: dict[str, Any],
        on_ticket: Callable[[Ticket], Awaitable[None]] | None = None,
    ) -> Generation:
        """Run one generation. Only the submit can raise RateLimited: nothing was billed then.

        In async mode `on_ticket` hears of the accepted request before polling starts, so it
        can be stored and collected after a restart instead of paid for again.
        """
        if self._mode == "async":
            return await self._generate_async(body, on_ticket)
        url = self._base / "v1" / self._model
        timeout = aiohttp.ClientTimeout(total=self._timeout, sock_connect=10)
        response = await self._request("POST", url, json_body=body, timeout=timeout)
        return await self._generation_from(response)

    async def _generate_async(
        self, body: dict[str, Any], on_ticket: Callable[[Ticket], Awaitable[None]] | None
    ) -> Generation:
        response = await self._request(
            "POST", self._base / "v2" / self._model, json_body=body, timeout=_SUBMIT_TIMEOUT
        )
        if _looks_like_image(response):
            return await self._generation_from(response)  # answered as v1 does
        data = response.json()
        if not isinstance(data, dict) or not (data.get("status_url") or data.get("poll_url")):
            raise InvalidResult("the async submit answered without a status URL", 200)
        ticket = Ticket(
            request_id=data.get("request_id"),
            status_url=data.get("status_url") or data["poll_url"],
            response_url=data.get("response_url"),
        )
        log.info("segmind request queued request_id=%s", ticket.request_id)
        if on_ticket is not None:
            await on_ticket(ticket)
        return await self.collect(ticket, usage=_usage(response.headers))

    async def collect(self, ticket: Ticket, usage: Mapping[str, str] | None = None) -> Generation:
        """Poll an accepted async request until it is done and fetch its image (all free)."""
        try:
            return await self._collect(ticket, usage)
        except AccessDenied as error:
            if error.status != 404:
                raise
            # The URLs came from the API itself: a 404 there is a record (or an output file)
            # that expired, never a wrong model name.
            raise ResultExpired(
                error.message or "the request is no longer known to the API", 404
            ) from None

    async def _collect(self, ticket: Ticket, usage: Mapping[str, str] | None) -> Generation:
        deadline = time.monotonic() + self._timeout
        while True:
            state = await self._poll(URL(ticket.status_url))
            status = str(state.get("status", "")).upper()
            if status == "COMPLETED":
                break
            if status == "FAILED":
                reason = _reason_from(state) or "the generation failed"
                raise GenerationFailed(reason, 422)
            if time.monotonic() >= deadline:
                raise TimedOut("the generation did not finish in time")
            await self._sleep(self._poll_interval)
        result = state
        if "output" not in state and ticket.response_url:
            result = await self._poll(URL(ticket.response_url))
        return await self._collect_output(result, usage=usage or {})

    async def credits(self) -> float | None:
        """The account's balance in dollars, from Segmind's free account endpoint (no paid
        call); None when Segmind keeps no balance for the account. A refused key raises
        AccessDenied, as a generation would."""
        url = self._base / "v1" / "get-user-credits"
        try:
            response = await self._request("GET", url, timeout=_POLL_TIMEOUT)
        except AccessDenied as error:
            if error.status == 404 and "credit" in error.message.lower():
                return None  # "No credits found for the user": the key works, no balance kept
            raise
        data = response.json()
        value = data.get("credits") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SegmindError("the credits endpoint answered without a number", response.status)
        try:
            return float(value)
        except ValueError:
            raise SegmindError(
                "the credits endpoint answered without a number", response.status
            ) from None

    async def _poll(self, url: URL) -> dict[str, Any]:
        """GET a status or result; polls are free, so passing faults are simply retried."""
        for attempt in range(1, 6):
            try:
                response = await self._request(
                    "GET", url, timeout=_POLL_TIMEOUT, accept=(200, 202, 422)
                )
            except (RateLimited, Unavailable, TimedOut) as error:
                if attempt == 5:
                    raise
                wait = getattr(error, "retry_at", None)
                delay = max(self._poll_interval, (wait or 0) - self._clock())
                await self._sleep(min(delay, 60))
                continue
            state = response.json()
            if not isinstance(state, dict):
                raise InvalidResult("a status poll answered without JSON", response.status)
            return state
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def _collect_output(self, result: dict[str, Any], usage: Mapping[str, str]) -> Generation:
        reference = _find_output(result.get("output"))
        if reference is None:
            raise InvalidResult("the finished generation names no output image", 200)
        if not reference.startswith(("http://", "https://")):
            data = await asyncio.to_thread(_base64_image, reference)
            return Generation(await self._checked(data), usage)
        url = URL(reference)
        # The key goes only to the API's own host, never to wherever the output is stored.
        send_key = url.origin() == self._base.origin()
        response = await self._request("GET", url, timeout=_POLL_TIMEOUT, send_key=send_key)
        return Generation(await self._checked(response.body), usage)

    async def _generation_from(self, response: _Response) -> Generation:
        """A 200 answer as an image: raw bytes, or JSON carrying a base64 `image`."""
        data = await asyncio.to_thread(_image_bytes_from, response)
        return Generation(await self._checked(data), _usage(response.headers))

    async def _checked(self, data: bytes) -> CheckedImage:
        """The API's image decoded completely, within the process's memory budget."""
        # Decoding a large image to check it takes a while: keep the event loop free meanwhile.
        if self._memory is None:
            return await asyncio.to_thread(_image_or_invalid, data)
        try:
            cost = generated_cost(data)  # the header alone
        except NotAnImage as error:
            raise InvalidResult(str(error), 200) from None
        try:
            async with self._memory.reserve(cost.bytes):
                return await asyncio.to_thread(_image_or_invalid, data)
        except OverBudget:
            raise InvalidResult(
                f"the image ({cost.width}×{cost.height}) is too large to check within "
                "MEMORY_BUDGET_MB",
                200,
            ) from None

    async def _request(
        self,
        method: str,
        url: URL,
        *,
        timeout: aiohttp.ClientTimeout,
        json_body: dict[str, Any] | None = None,
        accept: tuple[int, ...] = (200,),
        send_key: bool = True,
    ) -> _Response:
        """The one way out to the API: bounded retries of unprocessed requests, typed errors.

        The key goes to the API's own origin only, and never through a redirect: aiohttp would
        follow one with every header, so a keyed request follows none (a 3xx is an error). A
        status or response URL on another host is fetched without the key rather than refused:
        the generation it tracks is paid for already, and without the key that host learns
        nothing secret."""
        send_key = send_key and url.origin() == self._base.origin()
        headers = {"x-api-key": self._api_key} if send_key else {}
        attempts = 1 + self._server_retries
        backoff = Backoff(self._retry_delay, math.inf, jitter=0.2)
        server_errors = 0
        for attempt in range(1, attempts + 1):
            try:
                async with self._session.request(
                    method,
                    url,
                    json=json_body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=not send_key,
                ) as raw:
                    response = _Response(
                        raw.status, dict(raw.headers), raw.content_type, await raw.read()
                    )
            except TimeoutError:
                raise TimedOut("the API did not answer in time") from None
            except aiohttp.ClientConnectorError as error:
                # Never connected, so nothing ran: as safe to retry as a 5xx.
                failure: SegmindError = Unavailable(f"cannot reach the API ({error.os_error})")
            except aiohttp.ClientError as error:
                # Cut off mid-answer: the generation may have run; do not send it again.
                raise TimedOut(
                    f"the connection to the API broke ({type(error).__name__})"
                ) from None
            else:
                if response.status in accept:
                    return response
                failure = self._error_for(response)
                if not send_key and isinstance(failure, AccessDenied):
                    # Not a verdict on the key, which was not sent: nothing to pause for.
                    failure = InvalidResult(
                        f"{url.host} refused a request made without the key", response.status
                    )
                if not isinstance(failure, Unavailable):
                    raise failure
                # A 500 is often a value the model rejected while generating: sent once more
                # at most, in case it was passing (Segmind's advice).
                if failure.status == 500:
                    server_errors += 1
                    if server_errors > 1:
                        raise failure
            if attempt < attempts:
                delay = backoff.next_delay()
                log.warning(
                    "segmind %s %s (attempt %d of %d), retrying in %.1fs",
                    method,
                    failure.status or "connection error",
                    attempt,
                    attempts,
                    delay,
                )
                await self._sleep(delay)
        raise failure

    def _error_for(self, response: _Response) -> SegmindError:
        status = response.status
        reason = self._scrub(_reason_from_response(response))
        if status == 400:
            return BadRequest(reason or "the request was refused", status)
        if status == 413:
            return BadRequest(reason or "the images are too large for the image service", status)
        if status in (401, 403, 404):
            return AccessDenied(reason or "access refused", status)
        if status == 406:
            return _not_acceptable(reason)
        if status == 410:
            return ModelRetired(reason or "the model was retired", status)
        if status == 429:
            return RateLimited(reason or "rate limited", _retry_at(response.headers, self._clock))
        if status == 504:
            return TimedOut(reason or "the API timed out", status)
        if status in RETRYABLE_STATUSES:
            return Unavailable(reason or f"server error {status}", status)
        return SegmindError(reason or f"unexpected status {status}", status)

    def _scrub(self, text: str) -> str:
        """An echo of the key in an error body must not reach a log or a user."""
        return text.replace(self._api_key, "[key]") if self._api_key else text


def _not_acceptable(reason: str) -> SegmindError:
    """What a 406 means. Segmind gives no error code, only its words, so they decide: the
    content type first (its own advice), then the two answers that stop every request (credits
    below the call's cost, a team spend limit), else a value of this request it refused."""
    text = reason.lower()
    if "content" in text and "type" in text:
        return BadRequest(reason, 406)  # the request as the bot built it: a bug on our side
    if _SPEND_LIMIT.search(text):
        # Before credits: a spend limit's message may well name credits too.
        return SpendLimitReached(reason, 406)
    if "credit" in text or "insufficient balance" in text:
        return OutOfCredits(reason, 406)
    # A value refused before the model ran, or words never seen: this request fails alone
    # (a 406 is never billed) rather than pausing everyone. Pausing on unknown words would let
    # one user stop the bot for all with a value that draws them; if they do mean the account
    # is stopped, each job fails alike, logged with Segmind's words, and the owner still hears
    # of a low balance from the free credits check.
    return BadRequest(reason or "the image service refused a value of this request", 406)


def _reason_from(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MAX_MESSAGE]
            if isinstance(value, dict | list):
                return _reason_from(value) or json.dumps(value)[:_MAX_MESSAGE]
    if isinstance(data, list) and data:
        return _reason_from(data[0])
    return ""


def _reason_from_response(response: _Response) -> str:
    """The server's message, whether it answered JSON, plain text or an HTML error page."""
    data = response.json()
    if data is not None:
        return _reason_from(data) or (str(data)[:_MAX_MESSAGE] if isinstance(data, str) else "")
    text = response.body.decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:_MAX_MESSAGE]


def _retry_at(headers: Mapping[str, str], clock: Callable[[], float]) -> float | None:
    """When a 429 says to come back: Retry-After, else x-rate-limit-reset-at-utc, else unknown."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    retry_after = lowered.get("retry-after", "")
    if retry_after:
        try:
            return clock() + max(0.0, float(retry_after))
        except ValueError:
            moment = _parse_time(retry_after, email.utils.parsedate_to_datetime)
            if moment is not None:
                return moment
    reset = lowered.get("x-rate-limit-reset-at-utc", "")
    if reset:
        return _parse_time(reset.replace("Z", "+00:00"), datetime.fromisoformat)
    return None


def _parse_time(text: str, parse: Callable[[str], datetime]) -> float | None:
    """Epoch seconds of a timestamp; one without a zone is UTC, as the header's name says."""
    try:
        moment = parse(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _usage(headers: Mapping[str, str]) -> dict[str, str]:
    lowered = {key.lower(): value for key, value in headers.items()}
    return {name: lowered[name] for name in USAGE_HEADERS if name in lowered}


def _looks_like_image(response: _Response) -> bool:
    return response.content_type.startswith("image/") or response.body[:1] not in (b"{", b"[")


def _image_bytes_from(response: _Response) -> bytes:
    """The image bytes of a 200 answer: its body, or the base64 `image` of its JSON."""
    data = response.json() if response.body[:1] in (b"{", b"[") else None
    if isinstance(data, dict):
        for key in ("image", "output", "images"):
            found = _find_output(data.get(key))
            if found and not found.startswith(("http://", "https://")):
                return _base64_image(found)
        raise InvalidResult("the API answered JSON without an image", response.status)
    return response.body


def _image_or_invalid(data: bytes) -> CheckedImage:
    try:
        return read_generated(data)
    except NotAnImage as error:
        raise InvalidResult(str(error), 200) from None


def _base64_image(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidResult("the API's image is not valid base64", 200) from None


def _find_output(value: Any) -> str | None:
    """The first image reference in an output of any shape: a string, a list or an object."""
    if isinstance(value, str):
        return value.strip() if _is_image_reference(value.strip()) else None
    if isinstance(value, list):
        for item in value:
            found = _find_output(item)
            if found:
                return found
    if isinstance(value, dict):
        preferred = ("image", "url", "image_url", "images", "output", "data")
        for key in (*preferred, *(k for k in value if k not in preferred)):
            if key in value:
                found = _find_output(value[key])
                if found:
                    return found
    return None


def _is_image_reference(text: str) -> bool:
    """A URL, a data URI or a long base64 run; short strings are status words, ids and such."""
    if text.startswith(("http://", "https://", "data:image/")):
        return True
    return len(text) >= 64 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", text) is not None
