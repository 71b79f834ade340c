"""A fake Segmind image API (Consistent Character AI Neolemon V3) for tests.

A real aiohttp server on 127.0.0.1 that speaks Segmind's sync (v1) and async (v2) protocol,
answers scripted faults and records every request, so the bot's real HTTP client can be
tested offline. URLs, bodies and deliberate choices are listed on ``FakeSegmind``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import html
import io
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import responses
from typing import Any, Literal, NamedTuple, Self, TypeGuard, get_args

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from PIL import Image, ImageDraw
from yarl import URL

MODEL = "consistent-character-AI-neolemon-v3"
API_KEY = "test-segmind-key-0123456789"
COST = 0.58
STARTING_CREDITS = 100.0
DEFAULT_SEED = 4898558797
DEFAULT_SIZE = 1024
RATE_WINDOW = 60.0

FaultKind = Literal["status", "hang", "non_image", "truncated", "slow"]
SyncFormat = Literal["jpeg", "png", "webp", "json_base64"]
OutputShape = Literal["string", "list", "object"]
Mode = Literal["sync", "async"]

# Segmind's documented meaning of its error codes; other codes fall back to the HTTP phrase.
_MESSAGES = {
    400: "Bad request: invalid parameters",
    401: "Missing or invalid API key",
    403: "Insufficient permissions",
    404: "Model or endpoint not found",
    406: "Insufficient credits",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    504: "Gateway timeout",
}
_IMAGE_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
# What a "non_image" fault sends when it names no body: a success that forgot the image.
_NOT_AN_IMAGE = {"status": "Success", "message": "Generation complete"}
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_IMAGE_FIELDS = ("ip_image", "input_image")
_REQUIRED_FIELDS = ("ip_image", "prompt")


def _message(status: int) -> str:
    return _MESSAGES.get(status, responses.get(status, "Error"))


def _utc_stamp(moment: datetime) -> str:
    """Format as Segmind's ``x-rate-limit-reset-at-utc``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Payload(NamedTuple):
    body: bytes
    content_type: str


def _encode(body: str | bytes | dict[str, Any], content_type: str | None = None) -> _Payload:
    if isinstance(body, dict):
        return _Payload(json.dumps(body).encode(), content_type or "application/json")
    if isinstance(body, str):
        return _Payload(body.encode(), content_type or "text/plain")
    return _Payload(body, content_type or "application/octet-stream")


def _respond(
    status: int, payload: _Payload, headers: Mapping[str, str] | None = None
) -> web.Response:
    # Content-Type goes in as a plain header (not aiohttp's content_type argument) so the
    # client sees exactly what was scripted, e.g. "application/json" without a charset.
    return web.Response(
        status=status,
        body=payload.body,
        headers={**(headers or {}), "Content-Type": payload.content_type},
    )


def _json(status: int, data: dict[str, Any]) -> web.Response:
    return _respond(status, _encode(data))


@dataclass
class Fault:
    """What the next submit gets instead of a normal answer; ``FakeSegmind.faults`` is FIFO.

    Every kind first waits ``delay`` seconds. ``status`` then answers ``status``, ``body``
    and ``headers``; ``hang`` never answers. ``slow``, ``non_image`` and ``truncated`` go on
    through the normal path (auth, rate limit, validation, generation) and only change a
    success: ``non_image`` sends ``body`` (default: JSON without an image) instead of the
    image, ``truncated`` the first half of the image bytes (same Content-Type as a whole
    one). On v2 those two spoil the job's output image rather than the submit answer, since
    that is where v2 delivers the image.
    """

    status: int = 500
    body: str | bytes | dict[str, Any] | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    kind: FaultKind = "status"

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}")

    @classmethod
    def rate_limited(
        cls, retry_after: float | None = None, reset_at: datetime | None = None
    ) -> Fault:
        """A 429 carrying ``Retry-After``, ``x-rate-limit-reset-at-utc``, both or neither."""
        headers = {}
        if retry_after is not None:
            # Whole seconds as HTTP has it; a fraction is kept so tests need not sleep 1 s.
            whole = float(retry_after).is_integer()
            headers["Retry-After"] = str(int(retry_after)) if whole else str(retry_after)
        if reset_at is not None:
            headers["x-rate-limit-reset-at-utc"] = _utc_stamp(reset_at)
        return cls(status=429, headers=headers)

    @classmethod
    def error(cls, status: int, message: str, content_type: str = "application/json") -> Fault:
        """An error answer whose body carries ``message`` in the given content type."""
        body: str | dict[str, Any]
        if content_type == "application/json":
            body = {"error": message}
        elif content_type == "text/html":
            # Gateways answer with an HTML page, not Segmind's JSON.
            title = f"{status} {responses.get(status, 'Error')}"
            body = (
                f"<html><head><title>{title}</title></head>"
                f"<body><h1>{title}</h1><p>{html.escape(message)}</p></body></html>"
            )
        else:
            body = message
        return cls(status=status, body=body, content_type=content_type)


def _fault_payload(fault: Fault) -> _Payload:
    """The body a fault sends, filling in the default for its kind."""
    if fault.body is not None:
        return _encode(fault.body, fault.content_type)
    if fault.kind == "non_image":
        return _encode(_NOT_AN_IMAGE, fault.content_type)
    return _encode({"error": _message(fault.status)}, fault.content_type)


@dataclass
class Submit:
    """One POST to /v1/{model} or /v2/{model}: what arrived and what it was answered.

    ``headers`` has lower-case names (HTTP names are case-insensitive). ``status`` stays
    None for a request never answered (a hang, or a client that gave up); the times come
    from the fake's ``clock``.
    """

    mode: Mode
    headers: dict[str, str]
    body: Any
    started_at: float
    status: int | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class _Generation:
    """The parameters that shape the generated image."""

    seed: int
    width: int
    height: int

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> _Generation:
        return cls(
            seed=body.get("seed", DEFAULT_SEED),
            width=body.get("width", DEFAULT_SIZE),
            height=body.get("height", DEFAULT_SIZE),
        )


@dataclass
class _Job:
    """A v2 generation: QUEUED -> PROCESSING -> COMPLETED or FAILED."""

    request_id: str
    generation: _Generation
    spoiler: Fault | None  # a non_image / truncated fault that spoils the output image
    error: str | None  # set by fail_async_next: the job ends FAILED with this message
    status: str = "QUEUED"
    output: _Payload | None = None


def _render(generation: _Generation, image_format: str) -> bytes:
    """Draw a seed-coloured canvas with a contrasting ellipse: distinct per seed, never blank."""
    rgb = generation.seed % 0x1000000
    colour = (rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF)
    size = (generation.width, generation.height)
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse(
        (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4),
        fill=(255 - colour[0], 255 - colour[1], 255 - colour[2]),
    )
    out = io.BytesIO()
    image.save(out, format=image_format.upper())
    return out.getvalue()


def _is_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            # load(), unlike verify(), decodes the pixels, so a cut-off JPEG fails too.
            image.load()
    except (OSError, ValueError, SyntaxError):  # Pillow's ways of saying "broken data"
        return False
    return True


def _is_integer(value: object) -> TypeGuard[int]:
    # JSON true/false arrive as bool, which Python counts as int; Segmind would not.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_string(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _check_prompt(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return None if value.strip() else "must not be empty"


def _check_integer(
    value: object, *, low: int, high: int | None = None, multiple_of: int = 1
) -> str | None:
    if not _is_integer(value):
        return "must be an integer"
    if value < low or (high is not None and value > high):
        return f"must be between {low} and {high}" if high is not None else f"must be >= {low}"
    if value % multiple_of:
        return f"must be a multiple of {multiple_of}"
    return None


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_integer(value) or isinstance(value, float)


def _check_number(value: object, *, low: float, high: float) -> str | None:
    if not _is_number(value):
        return "must be a number"
    # Written so that NaN, which compares false with everything, is out of range too.
    return None if low <= value <= high else f"must be between {low:g} and {high:g}"


_check_dimension = functools.partial(_check_integer, low=256, high=2048, multiple_of=8)

# The model's documented scalar fields; the image fields need I/O and are checked apart.
_SCALAR_CHECKS: dict[str, Callable[[object], str | None]] = {
    "prompt": _check_prompt,
    "negative_prompt": _check_string,
    "seed": functools.partial(_check_integer, low=0),
    "steps": functools.partial(_check_integer, low=1, high=70),
    "guidance_scale": functools.partial(_check_number, low=1, high=15),
    "width": _check_dimension,
    "height": _check_dimension,
}
_KNOWN_FIELDS = frozenset(_SCALAR_CHECKS) | frozenset(_IMAGE_FIELDS)


class _Rejected(Exception):
    """A request the fake refuses; becomes a JSON ``{"error": ...}`` answer."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return _respond(self.status, _encode({"error": str(self)}), self.headers)


@web.middleware
async def _answer_rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Rejected as rejected:
        return rejected.response()


def _decode_base64(name: str, value: str) -> bytes:
    try:
        # validate=True: garbage should fail here, not slip through as fewer bytes.
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise _Rejected(400, f"{name}: neither an http(s) URL nor valid base64") from None


def _job_state(job: _Job, *, http_status: int) -> web.Response:
    """A job's status body; FAILED is always a 422 carrying the error, as on Segmind."""
    if job.status == "FAILED":
        return _json(422, {"request_id": job.request_id, "status": job.status, "error": job.error})
    return _json(http_status, {"request_id": job.request_id, "status": job.status})


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # also covers bytes that are not UTF-8
        return None


class FakeSegmind:
    """The fake server; ``start()`` it, point the bot at ``base_url``, ``close()`` it.

    Endpoints (bodies are JSON unless said otherwise; errors are ``{"error": "<message>"}``):

    - ``POST /v1/{model}``: after ``latency``, 200 with the image (``sync_format``: raw
      JPEG/PNG/WEBP, or ``{"image": "<base64 JPEG>", "seed": n}``) and the headers
      ``x-remaining-credits``, ``x-cost``, ``x-request-id``, ``x-generation-time``,
      ``x-seed-value``.
    - ``POST /v2/{model}``: at once 200 ``{"request_id", "status": "QUEUED", "status_url",
      "response_url", "poll_url"}``; ``poll_url`` is the same as ``status_url``.
    - ``GET /v2/requests/{id}/status``: 200 ``{"request_id", "status"}`` while QUEUED,
      PROCESSING or COMPLETED; 422 ``{"request_id", "status": "FAILED", "error"}``.
    - ``GET /v2/requests/{id}``: 200 ``{"request_id", "status": "COMPLETED", "metrics",
      "output"}`` once done, where ``output`` is the image URL shaped by ``output_shape``
      (``"url"``, ``["url"]`` or ``{"image": "url"}``); 202 ``{"request_id", "status"}``
      before that; 422 as above when FAILED.
    - ``GET {output_base_url}/outputs/{id}.{jpg|png|webp}``: the image, without auth. It
      is a second server on its own port, as Segmind's outputs live on another host.
    - On that other host too, without auth: ``GET /v2/requests/{id}/status`` and
      ``GET /v2/requests/{id}`` (the v2 URLs point there when ``status_elsewhere`` is set),
      and ``POST /v1/{model}`` (what a redirect may point to). ``keys_elsewhere`` holds the
      ``x-api-key`` header (or None) of every request these three received.

    A submit passes, in order: the next scripted fault, the API key (401), the model name
    (404), the ``rpm`` limit (429), the content type (406) and body validation (400). Every
    request passing the key and model checks counts towards ``rpm``, invalid or not.
    ``billed`` counts v1 generations answered 200 (also when a fault spoils the image) and
    accepted v2 submits (also those that later fail): polling is free. A v1 client hanging
    up mid-generation cancels it here, unbilled.
    """

    def __init__(
        self,
        *,
        latency: float = 0.05,
        sync_format: SyncFormat = "jpeg",
        output_shape: OutputShape = "string",
        rpm: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if sync_format not in get_args(SyncFormat):
            raise ValueError(f"unknown sync_format {sync_format!r}")
        if output_shape not in get_args(OutputShape):
            raise ValueError(f"unknown output_shape {output_shape!r}")
        self.base_url = ""
        self.output_base_url = ""
        self.faults: collections.deque[Fault] = collections.deque()
        self.submits: list[Submit] = []
        self.polls = 0
        self.output_fetches = 0
        self.output_fetches_with_key = 0
        self.status_elsewhere = False
        self.keys_elsewhere: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.rate_limited_count = 0
        self.billed = 0
        self.starting_credits = STARTING_CREDITS
        self.credit_record = True
        self.credit_checks = 0
        self.latency = latency
        self.sync_format = sync_format
        self.output_shape = output_shape
        self._rpm = rpm
        self._clock = clock
        self._admitted_at: collections.deque[float] = collections.deque()
        self._failures: collections.deque[str] = collections.deque()
        self._jobs: dict[str, _Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._images: dict[str, list[bytes]] = {name: [] for name in _IMAGE_FIELDS}
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        # Reference images arrive base64-encoded inside the JSON: allow bodies of many MB,
        # as the real API does, not aiohttp's default of 1 MiB.
        api = web.Application(middlewares=[_answer_rejections], client_max_size=64 * 2**20)
        api.router.add_get("/v1/get-user-credits", self._on_credits)
        api.router.add_post("/v1/{model}", self._on_sync_submit)
        api.router.add_post("/v2/{model}", self._on_async_submit)
        api.router.add_get("/v2/requests/{request_id}/status", self._on_status)
        api.router.add_get("/v2/requests/{request_id}", self._on_result)
        outputs = web.Application(middlewares=[_answer_rejections])
        outputs.router.add_get("/outputs/{request_id}.{extension}", self._on_output)
        outputs.router.add_get("/v2/requests/{request_id}/status", self._on_status_elsewhere)
        outputs.router.add_get("/v2/requests/{request_id}", self._on_result_elsewhere)
        outputs.router.add_post("/v1/{model}", self._on_submit_elsewhere)
        self.base_url = await self._serve(api)
        self.output_base_url = await self._serve(outputs)

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def fail_async_next(self, error: str) -> None:
        """Make the next accepted v2 job end FAILED with ``error`` (after ``latency``)."""
        self._failures.append(error)

    def ip_images(self) -> list[bytes]:
        """The ``ip_image`` bytes of every valid submit, in order (decoded or fetched)."""
        return list(self._images["ip_image"])

    def input_images(self) -> list[bytes]:
        """The ``input_image`` (pose reference) bytes of every valid submit, in order."""
        return list(self._images["input_image"])

    async def _serve(self, app: web.Application) -> str:
        # handler_cancellation: a client that gives up cancels its handler at once, so
        # in_flight drops as it would on a server that notices the disconnect.
        # shutdown_timeout: whatever still runs at close() is a hang or an abandoned
        # request; aiohttp's default would wait 60 s for it.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:  # also when the client hangs up and the handler is cancelled
            self.in_flight -= 1

    def _bill(self) -> float:
        """Charge one generation and return the credits left."""
        self.billed += 1
        return self._balance()

    def _balance(self) -> float:
        return self.starting_credits - self.billed * COST

    async def _on_credits(self, request: web.Request) -> web.Response:
        """The free account endpoint: the balance, never billed."""
        self.credit_checks += 1
        self._check_key(request)
        if not self.credit_record:
            raise _Rejected(404, "No credits found for the user")
        return _json(200, {"credits": round(self._balance(), 2)})

    # Submits

    async def _on_sync_submit(self, request: web.Request) -> web.Response:
        with self._busy():
            return await self._submit(request, "sync")

    async def _on_async_submit(self, request: web.Request) -> web.Response:
        # A v2 submit only queues work; in_flight counts the generation (see _run).
        return await self._submit(request, "async")

    async def _submit(self, request: web.Request, mode: Mode) -> web.Response:
        submit = Submit(
            mode=mode,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=_parse_json(await request.read()),
            started_at=self._clock(),
        )
        self.submits.append(submit)
        try:
            response = await self._answer_submit(request, submit)
        except _Rejected as rejected:
            response = rejected.response()
        finally:
            submit.finished_at = self._clock()
        submit.status = response.status
        if response.status == 429:
            self.rate_limited_count += 1
        return response

    async def _answer_submit(self, request: web.Request, submit: Submit) -> web.Response:
        fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            # A hang is an answer that never comes: only the client giving up (handler
            # cancellation) or close() ends this wait.
            await asyncio.sleep(math.inf if fault.kind == "hang" else fault.delay)
            if fault.kind == "status":
                return _respond(fault.status, _fault_payload(fault), fault.headers)
        self._check_key(request)
        self._check_model(request)
        self._admit()
        generation = await self._validate(request, submit.body)
        spoiler = fault if fault is not None and fault.kind in ("non_image", "truncated") else None
        if submit.mode == "sync":
            return await self._generate(generation, spoiler)
        return self._enqueue(generation, spoiler)

    async def _generate(self, generation: _Generation, spoiler: Fault | None) -> web.Response:
        await asyncio.sleep(self.latency)
        payload = await self._produce(
            generation, spoiler, as_base64_json=self.sync_format == "json_base64"
        )
        headers = {
            "x-remaining-credits": f"{self._bill():.2f}",
            "x-cost": f"{COST:.2f}",
            "x-request-id": uuid.uuid4().hex,
            "x-generation-time": f"{self.latency:.2f}",
            "x-seed-value": str(generation.seed),
        }
        return _respond(200, payload, headers)

    def _enqueue(self, generation: _Generation, spoiler: Fault | None) -> web.Response:
        job = _Job(
            request_id=uuid.uuid4().hex,
            generation=generation,
            spoiler=spoiler,
            error=self._failures.popleft() if self._failures else None,
        )
        self._jobs[job.request_id] = job
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)
        self._bill()
        base = self.output_base_url if self.status_elsewhere else self.base_url
        status_url = f"{base}/v2/requests/{job.request_id}/status"
        return _json(
            200,
            {
                "request_id": job.request_id,
                "status": job.status,
                "status_url": status_url,
                "response_url": f"{base}/v2/requests/{job.request_id}",
                "poll_url": status_url,
            },
        )

    async def _run(self, job: _Job) -> None:
        with self._busy():
            job.status = "PROCESSING"
            await asyncio.sleep(self.latency)
            if job.error is not None:
                job.status = "FAILED"
                return
            job.output = await self._produce(job.generation, job.spoiler)
            job.status = "COMPLETED"

    @property
    def _image_format(self) -> str:
        # The base64 JSON answer wraps a JPEG, like the Segmind models that offer it.
        return "jpeg" if self.sync_format == "json_base64" else self.sync_format

    async def _produce(
        self, generation: _Generation, spoiler: Fault | None, *, as_base64_json: bool = False
    ) -> _Payload:
        """The finished image as delivered: raw, wrapped in base64 JSON, or spoiled."""
        if spoiler is not None and spoiler.kind == "non_image":
            return _fault_payload(spoiler)
        image_format = self._image_format
        image = await asyncio.to_thread(_render, generation, image_format)
        if spoiler is not None:  # truncated
            return _Payload(image[: len(image) // 2], _IMAGE_TYPES[image_format])
        if as_base64_json:
            encoded = base64.b64encode(image).decode()
            return _encode({"image": encoded, "seed": generation.seed})
        return _Payload(image, _IMAGE_TYPES[image_format])

    # Checks

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("x-api-key") != API_KEY:
            raise _Rejected(401, _message(401))

    def _check_model(self, request: web.Request) -> None:
        if request.match_info["model"] != MODEL:
            raise _Rejected(404, _message(404))

    def _admit(self) -> None:
        """Enforce ``rpm`` submits per rolling minute of ``clock``, like Segmind's plans."""
        if self._rpm is None:
            return
        now = self._clock()
        while self._admitted_at and self._admitted_at[0] <= now - RATE_WINDOW:
            self._admitted_at.popleft()
        if len(self._admitted_at) >= self._rpm:
            wait = self._admitted_at[0] + RATE_WINDOW - now
            # Rounded up, so a client waiting until the stamped second is never early.
            reset = datetime.fromtimestamp(math.ceil(time.time() + wait), UTC)
            # No Retry-After: Segmind is reported not to send one on 429.
            raise _Rejected(429, _message(429), {"x-rate-limit-reset-at-utc": _utc_stamp(reset)})
        self._admitted_at.append(now)

    async def _validate(self, request: web.Request, body: Any) -> _Generation:
        """Check a submit body against the model's documented fields."""
        if request.content_type != "application/json":
            raise _Rejected(406, "Invalid content type: expected application/json")
        if not isinstance(body, dict):
            raise _Rejected(400, "The body must be a JSON object")
        # input_image is documented with default null, so an explicit null means "absent".
        fields = {
            name: value
            for name, value in body.items()
            if not (name == "input_image" and value is None)
        }
        unknown = sorted(fields.keys() - _KNOWN_FIELDS)
        if unknown:
            raise _Rejected(400, f"Unknown field(s): {', '.join(unknown)}")
        for name in _REQUIRED_FIELDS:
            if name not in fields:
                raise _Rejected(400, f"{name}: required")
        for name, check in _SCALAR_CHECKS.items():
            problem = check(fields[name]) if name in fields else None
            if problem is not None:
                raise _Rejected(400, f"{name}: {problem}")
        images = {
            name: await self._load_image(name, fields[name])
            for name in _IMAGE_FIELDS
            if name in fields
        }
        # Recorded only now, so the lists hold the images of submits that were valid.
        for name, data in images.items():
            self._images[name].append(data)
        return _Generation.from_body(fields)

    async def _load_image(self, name: str, value: object) -> bytes:
        if not isinstance(value, str):
            raise _Rejected(400, f"{name}: must be a string (an http(s) URL or raw base64)")
        if value.startswith(("http://", "https://")):
            data = await self._fetch_image(name, value)
        elif value.startswith("data:"):
            raise _Rejected(400, f"{name}: send raw base64, without a data: URI prefix")
        else:
            data = _decode_base64(name, value)
        if not await asyncio.to_thread(_is_image, data):
            raise _Rejected(400, f"{name}: not a readable image")
        return data

    async def _fetch_image(self, name: str, url: str) -> bytes:
        assert self._session is not None, "start() the fake first"
        try:
            # Only loopback exists here; the real service, too, fails to fetch some hosts.
            if URL(url).host not in _LOOPBACK_HOSTS:
                raise _Rejected(400, f"{name}: could not fetch the URL (unreachable host)")
            async with self._session.get(url) as response:
                if response.status != 200:
                    raise _Rejected(400, f"{name}: fetching the URL gave HTTP {response.status}")
                return await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _Rejected(400, f"{name}: could not fetch the URL ({exc!r})") from exc

    # Polls and outputs

    def _polled_job(self, request: web.Request, *, keyed: bool = True) -> _Job:
        if keyed:
            self._check_key(request)
        job = self._jobs.get(request.match_info["request_id"])
        if job is None:
            raise _Rejected(404, "Request not found")
        return job

    async def _on_status(self, request: web.Request) -> web.Response:
        self.polls += 1
        return _job_state(self._polled_job(request), http_status=200)

    async def _on_result(self, request: web.Request, *, keyed: bool = True) -> web.Response:
        self.polls += 1
        job = self._polled_job(request, keyed=keyed)
        if job.status != "COMPLETED":
            # 202, not 200: "accepted, not done"; the body's status is what a client must read.
            return _job_state(job, http_status=202)
        extension = _EXTENSIONS[self._image_format]
        url = f"{self.output_base_url}/outputs/{job.request_id}.{extension}"
        return _json(
            200,
            {
                "request_id": job.request_id,
                "status": job.status,
                "metrics": {"inference_time": self.latency, "queue_time": 0.0},
                "output": self._shape_output(url),
            },
        )

    async def _on_status_elsewhere(self, request: web.Request) -> web.Response:
        self.keys_elsewhere.append(request.headers.get("x-api-key"))
        self.polls += 1
        return _job_state(self._polled_job(request, keyed=False), http_status=200)

    async def _on_result_elsewhere(self, request: web.Request) -> web.Response:
        self.keys_elsewhere.append(request.headers.get("x-api-key"))
        return await self._on_result(request, keyed=False)

    async def _on_submit_elsewhere(self, request: web.Request) -> web.Response:
        self.keys_elsewhere.append(request.headers.get("x-api-key"))
        return await self._on_sync_submit(request)

    def _shape_output(self, url: str) -> str | list[str] | dict[str, str]:
        if self.output_shape == "list":
            return [url]
        if self.output_shape == "object":
            return {"image": url}
        return url

    async def _on_output(self, request: web.Request) -> web.Response:
        self.output_fetches += 1
        if "x-api-key" in request.headers:
            self.output_fetches_with_key += 1
        job = self._jobs.get(request.match_info["request_id"])
        if job is None or job.output is None:
            raise _Rejected(404, "No such output")
        return _respond(200, job.output)
