"""The Segmind client against the fake API: every documented status, both modes, retry bounds."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot import segmind as api
from bot.segmind import SegmindClient
from tests.fakes.segmind import API_KEY, MODEL, FakeSegmind, Fault


def reference_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 40, 200)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


BODY: dict[str, Any] = {
    "ip_image": reference_png(),
    "prompt": "a knight, sitting on a rock",
    "negative_prompt": "",
    "seed": 4898558797,
    "steps": 10,
    "guidance_scale": 3.0,
    "width": 832,
    "height": 1216,
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(session: aiohttp.ClientSession, segmind: FakeSegmind) -> Callable[..., SegmindClient]:
    def make(**overrides: Any) -> SegmindClient:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": segmind.base_url,
            "model": MODEL,
            "timeout": 5.0,
            "poll_interval": 0.02,
            "retry_delay": 0.01,
        }
        options.update(overrides)
        return SegmindClient(session, **options)

    return make


@pytest.mark.parametrize("sync_format", ["jpeg", "png", "webp", "json_base64"])
async def test_sync_generation_returns_the_image_in_any_answer_form(
    segmind: FakeSegmind, client: Callable[..., SegmindClient], sync_format: str
) -> None:
    segmind.sync_format = sync_format  # the same server, answering in another form
    generation = await client().generate(BODY)
    assert (generation.image.width, generation.image.height) == (832, 1216)
    assert generation.usage["x-cost"] == "0.58"
    assert "x-request-id" in generation.usage
    [submit] = segmind.submits
    assert submit.mode == "sync"
    assert submit.headers["x-api-key"] == API_KEY
    assert submit.body == BODY
    assert segmind.billed == 1


@pytest.mark.parametrize("shape", ["string", "list", "object"])
async def test_async_generation_polls_and_fetches_the_output_without_the_key(
    segmind: FakeSegmind, client: Callable[..., SegmindClient], shape: str
) -> None:
    segmind.output_shape = shape
    generation = await client(mode="async").generate(BODY)
    assert (generation.image.width, generation.image.height) == (832, 1216)
    assert [s.mode for s in segmind.submits] == ["async"]
    assert segmind.polls >= 1
    assert segmind.output_fetches == 1
    assert segmind.output_fetches_with_key == 0, "the key must not go to the output host"


async def test_async_failure_is_a_result_not_a_retry(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.fail_async_next("NSFW content detected")
    with pytest.raises(api.GenerationFailed, match="NSFW content detected") as caught:
        await client(mode="async").generate(BODY)
    assert len(segmind.submits) == 1
    assert not caught.value.may_have_billed, "a FAILED inference is not charged"
    assert segmind.billed == 0


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault.error(400, "steps must be <= 70"), api.BadRequest, "steps must be <= 70"),
        (Fault.error(400, "bad seed", "text/plain"), api.BadRequest, "bad seed"),
        (Fault.error(401, "Invalid API key"), api.AccessDenied, "Invalid API key"),
        (Fault.error(403, "Forbidden for this plan"), api.AccessDenied, "Forbidden"),
        (Fault.error(404, "Model not found"), api.AccessDenied, "Model not found"),
        (Fault.insufficient_credits(0.12), api.OutOfCredits, r"balance is \$0\.12"),
        (Fault.error(406, "Insufficient credits"), api.OutOfCredits, "Insufficient credits"),
        (Fault.spend_limit("monthly", 50), api.SpendLimitReached, r"monthly limit of \$50"),
        (Fault.rejected_value("width", 4096), api.BadRequest, "'width': 4096"),
        (Fault.error(406, "Invalid content type"), api.BadRequest, "content type"),
        # Words never seen: this request's fault, not a reason to stop everyone.
        (Fault.error(406, "Not Acceptable"), api.BadRequest, "Not Acceptable"),
        (Fault.model_retired(), api.ModelRetired, "retired"),
        (Fault.error(504, "upstream timed out", "text/html"), api.TimedOut, "504 Gateway"),
        (Fault.error(418, "teapot"), api.SegmindError, "teapot"),
    ],
)
async def test_each_error_status_becomes_its_typed_error(
    segmind: FakeSegmind,
    client: Callable[..., SegmindClient],
    fault: Fault,
    error: type[api.SegmindError],
    message: str,
) -> None:
    segmind.faults.append(fault)
    with pytest.raises(error, match=message) as caught:
        await client().generate(BODY)
    assert caught.value.status == fault.status
    assert len(segmind.submits) == 1, "only 500/502/503 may be sent again"
    # Only a gateway timeout leaves a generation that may have run (and been charged).
    assert caught.value.may_have_billed == (fault.status == 504)
    assert segmind.billed == 0


async def test_server_errors_are_retried_at_most_twice(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.faults.extend(
        [Fault.error(500, "boom"), Fault.error(502, "Bad gateway", "text/html")] * 2
    )
    with pytest.raises(api.Unavailable, match=r"Bad gateway|boom"):
        await client().generate(BODY)
    assert len(segmind.submits) == 3
    assert len(segmind.faults) == 1


async def test_a_500_is_sent_again_once_at_most(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    # Often a value the model rejected while generating: a third try would fail alike.
    segmind.faults.extend([Fault.error(500, "boom")] * 3)
    with pytest.raises(api.Unavailable, match="boom") as caught:
        await client().generate(BODY)
    assert len(segmind.submits) == 2
    assert not caught.value.may_have_billed
    assert segmind.billed == 0
    segmind.faults.clear()
    segmind.faults.append(Fault.error(500, "passing"))
    await client().generate(BODY)
    assert len(segmind.submits) == 4, "a passing 500 is retried into success"


async def test_a_poll_of_an_expired_request_may_have_billed(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.latency = 0.3

    async def expire(_: api.Ticket) -> None:
        segmind.forget_requests()  # Segmind's record expires before the bot collects it

    with pytest.raises(api.ResultExpired, match=r"Request \w+ not found") as caught:
        await client(mode="async").generate(BODY, on_ticket=expire)
    assert caught.value.status == 404
    assert caught.value.may_have_billed
    assert segmind.billed == 1, "the submit was accepted, so it may well be charged"
    assert len(segmind.submits) == 1, "never submitted again"


async def test_the_balance_is_read_for_free(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    assert await client().credits() == 100.0
    await client().generate(BODY)
    assert await client().credits() == pytest.approx(99.42)
    segmind.credit_record = False
    assert await client().credits() is None, "no balance kept for the account"
    with pytest.raises(api.AccessDenied) as refused:
        await client(api_key="not-the-key").credits()
    assert refused.value.status == 401
    assert segmind.credit_checks == 4
    assert segmind.billed == 1, "only the generation was billed"


async def test_a_passing_server_error_is_retried_into_success(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.faults.append(Fault.error(502, "<h1>bad gateway</h1>", "text/html"))
    generation = await client().generate(BODY)
    assert generation.image.format == "jpeg"
    assert len(segmind.submits) == 2
    assert segmind.billed == 1


async def test_rate_limit_reports_when_to_come_back(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=90)
    segmind.faults.extend(
        [
            Fault.rate_limited(retry_after=7),
            Fault.rate_limited(reset_at=reset),
            Fault.rate_limited(),
        ]
    )
    started = time.time()
    with pytest.raises(api.RateLimited) as by_retry_after:
        await client().generate(BODY)
    assert by_retry_after.value.retry_at == pytest.approx(started + 7, abs=2)
    with pytest.raises(api.RateLimited) as by_reset_header:
        await client().generate(BODY)
    assert by_reset_header.value.retry_at == reset.timestamp()
    with pytest.raises(api.RateLimited) as unexplained:
        await client().generate(BODY)
    assert unexplained.value.retry_at is None
    assert len(segmind.submits) == 3, "a 429 is the scheduler's to wait out, not the client's"


async def test_no_answer_in_time_is_a_timeout_and_not_sent_again(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.faults.append(Fault(kind="hang"))
    with pytest.raises(api.TimedOut) as caught:
        await client(timeout=0.5).generate(BODY)
    assert caught.value.may_have_billed
    assert len(segmind.submits) == 1


@pytest.mark.parametrize("kind", ["non_image", "truncated"])
async def test_a_success_without_a_whole_image_is_an_error(
    segmind: FakeSegmind, client: Callable[..., SegmindClient], kind: str
) -> None:
    segmind.faults.append(Fault(kind=kind))
    with pytest.raises(api.InvalidResult):
        await client().generate(BODY)


async def test_the_key_never_appears_in_an_error(
    segmind: FakeSegmind, client: Callable[..., SegmindClient]
) -> None:
    segmind.faults.append(Fault.error(401, f"key {API_KEY} is not valid"))
    with pytest.raises(api.AccessDenied) as caught:
        await client().generate(BODY)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in caught.value.message


async def test_a_refused_connection_is_retried_then_reported(
    session: aiohttp.ClientSession, segmind: FakeSegmind
) -> None:
    closed_port = FakeSegmind()
    await closed_port.start()
    url = closed_port.base_url
    await closed_port.close()
    client = SegmindClient(session, api_key=API_KEY, base_url=url, model=MODEL, retry_delay=0.01)
    with pytest.raises(api.Unavailable, match="cannot reach"):
        await client.generate(BODY)
