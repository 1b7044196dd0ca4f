"""`ApiClient`: the one way adapters talk HTTP to a remote system.

A request goes: rate limiter → token → one `httpx` call → the error policy decides. Successful
responses are returned; everything else becomes a typed error from `connector.errors`, after
the retries the policy and the request's idempotency allow (tenacity drives the loop).

What is repeated, and why (RFC 9110 §9.2.2 on idempotent methods):

* transient answers (5xx, 408, reads that time out or are reset) — only for requests that are
  safe to repeat: idempotent methods, or a POST the adapter declares idempotent (an upsert by
  external id);
* failures before the request left (connect errors, pool timeouts), 429s and a 401 followed by
  a token refresh — for every request, since the server did not act on it.

A 429 waits what the server said (`Retry-After`, or a wait in the body) and no longer; failing
that, what the adapter's table says about its window (`Rule.wait_cap_seconds`: a rolling window
frees a slot every window/limit seconds — the limiter's window and capacity where it has them —
so a lone 429 costs a fraction of a second, and only repeated refusals of one request back off
towards a whole window). Whether the *other* requests should slow down is for the quota headers
to say, which a 429 from a server that sends them carries like any response (remaining 0: the
limiter takes its window as full). A 429 without them slows only its own request: taking the
window as full on its word alone turned 16 outside 429s into a push paced at the account's
limit for ten seconds after each (bench/faults.py). 429s do not use up `max_attempts` (the
server did not fail, it asked us to come back); they are bounded by `max_elapsed_seconds`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

import httpx
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception

from connector.errors import (
    AuthExpiredError,
    ConfigurationError,
    QuotaExhaustedError,
    RateLimitedError,
)
from connector.http.auth import TokenProvider
from connector.http.errors import (
    HttpConfigurationError,
    HttpRecordError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
    clip,
)
from connector.http.policy import (
    DEFAULT_POLICY,
    ApiError,
    ErrorParser,
    ErrorPolicy,
    Resolution,
    Rule,
    parse_json_error,
)
from connector.http.ratelimit import (
    DEFAULT_REGISTRY,
    LimiterRegistry,
    QuotaParser,
    RateLimiter,
    Sleep,
)
from connector.http.retry import (
    doubling_wait,
    full_jitter_backoff,
    is_idempotent,
    parse_retry_after,
    stop_after_failures,
    stop_before_deadline,
    told_wait,
)
from connector.http.settings import HttpSettings, RateLimit
from connector.http.telemetry import METRICS, Attempt, HttpMetrics, log_attempt
from connector.timestamps import MonotonicClock

# Failures that happen before any byte of the request reaches the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_TOLD_MATTERS = frozenset({Resolution.RETRY, Resolution.WAIT, Resolution.QUOTA})
# Failures no retry can fix: a malformed URL or request.
_BROKEN_REQUEST = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


@dataclass(slots=True)
class _Call:
    """The state of one logical request across its attempts."""

    method: str
    path: str
    repeatable: bool
    started: float
    refreshed: bool = False
    reason: str = ""  # what went wrong last, for people (may include the wait we were told)
    kind: str = ""  # the same without variable parts, for metric labels
    rate_limited: int = 0  # attempts answered 429: they do not use up `max_attempts`
    quota: bool = True  # whether the quota headers of the responses describe this limiter


class ApiClient:
    """A resilient HTTP client for one remote system (and one account on it)."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        name: str,
        policy: ErrorPolicy = DEFAULT_POLICY,
        auth: TokenProvider | None = None,
        limits: Mapping[str, RateLimit] | None = None,
        error_parser: ErrorParser | None = None,
        quota_parser: QuotaParser | None = None,
        quota_classes: frozenset[str] | None = None,
        account: str | None = None,
        registry: LimiterRegistry = DEFAULT_REGISTRY,
        metrics: HttpMetrics = METRICS,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        uniform: Callable[[float, float], float] = random.uniform,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.policy = policy
        self._auth = auth
        # Configuration (config.yaml) wins over the adapter's documented defaults.
        self._limits: dict[str, RateLimit] = {**(limits or {}), **settings.rate_limits}
        self._error_parser = error_parser or parse_json_error
        self._quota_parser = quota_parser
        # The endpoint classes whose quota the headers describe (None: all of them).
        self._quota_classes = quota_classes
        self._account = account or settings.base_url
        self._registry = registry
        self._limiters: dict[str, RateLimiter] = {}
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._uniform = uniform
        self._http = build_async_client(settings, transport=transport)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def limiter(self, endpoint_class: str = "default") -> RateLimiter:
        """The limiter shared by every request of this account to `endpoint_class`."""
        limiter = self._limiters.get(endpoint_class)
        if limiter is None:
            limiter = self._registry.get(
                (self.name, self._account, endpoint_class),
                self._limits.get(endpoint_class),
                clock=self._clock,
                sleep=self._sleep,
            )
            self._limiters[endpoint_class] = limiter
        return limiter

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        endpoint_class: str = "default",
        idempotent: bool | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Sends a request; returns a successful response or raises a typed error.

        The body is `json` (serialised) or `content` (raw bytes, e.g. a CSV upload)."""
        if "://" in path or path.startswith("//"):
            # An absolute URL would send our token to whatever host it names.
            raise ValueError("path must be relative to the configured base_url")
        method = method.upper()
        call = _Call(
            method=method,
            path=path.split("?", 1)[0],
            repeatable=is_idempotent(method, idempotent),
            started=self._clock(),
        )
        limiter = self.limiter(endpoint_class)
        if self._quota_classes is not None and endpoint_class not in self._quota_classes:
            call.quota = False
        # The first attempt runs outside tenacity: most requests succeed at once, and building a
        # retry loop costs more than the rest of the layer together (see bench/http_overhead.py).
        try:
            return await self._attempt(
                call, 1, limiter, json=json, params=params, headers=headers, content=content
            )
        except Exception as error:
            if not _may_repeat(call, error):
                raise
            first_failure = error
        retrying = AsyncRetrying(
            stop=stop_after_failures(self.settings.max_attempts, lambda: call.rate_limited)
            | stop_before_deadline(self.settings.max_elapsed_seconds, self._clock, call.started),
            wait=lambda state: self._wait(state, call),
            retry=retry_if_exception(lambda exc: _may_repeat(call, exc)),
            sleep=self._sleep,
            before_sleep=lambda state: self._metrics.record_retry(self.name, call.kind),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number == 1:
                        # Hand tenacity the failure already seen, so it decides the wait and
                        # the stop exactly as if it had run the first attempt itself.
                        raise first_failure
                    return await self._attempt(
                        call,
                        number,
                        limiter,
                        json=json,
                        params=params,
                        headers=headers,
                        content=content,
                    )
        except RetryError as exhausted:
            self._give_up(call, exhausted)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _give_up(self, call: _Call, exhausted: RetryError) -> NoReturn:
        last = exhausted.last_attempt.exception()
        attempts = exhausted.last_attempt.attempt_number
        elapsed = self._clock() - call.started
        message = (
            f"{self.name}: {call.method} {call.path} failed after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} in {elapsed:.1f} s; last: {call.reason}"
        )
        log_attempt(
            Attempt(self.name, call.method, call.path, None, 0.0, attempts, "gave_up", call.reason)
        )
        assert isinstance(last, Exception)
        raise RetriesExhaustedError(
            message, method=call.method, path=call.path, attempts=attempts, last=last
        ) from last

    def _wait(self, state: RetryCallState, call: _Call) -> float:
        assert state.outcome is not None
        exc = state.outcome.exception()
        if isinstance(exc, AuthExpiredError):
            return 0.0  # the token was just refreshed; the retry is immediate
        told = getattr(exc, "retry_after", None)
        if isinstance(told, int | float):
            return told_wait(float(told), self._uniform)
        if isinstance(exc, RateLimitedError) and exc.first_wait is not None:
            cap = exc.max_wait if exc.max_wait is not None else exc.first_wait
            return doubling_wait(call.rate_limited, exc.first_wait, cap, self._uniform)
        return full_jitter_backoff(
            state.attempt_number,
            self.settings.backoff_base_seconds,
            self.settings.backoff_max_seconds,
            self._uniform,
        )

    async def _attempt(
        self,
        call: _Call,
        number: int,
        limiter: RateLimiter,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        content: bytes | None = None,
    ) -> httpx.Response:
        await limiter.acquire()
        token = await self._auth.token() if self._auth is not None else None
        sent_headers = dict(headers) if headers else {}
        if token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"
        began = self._clock()
        try:
            response = await self._http.request(
                call.method,
                call.path,
                json=json,
                params=params,
                headers=sent_headers,
                content=content,
            )
        except httpx.TransportError as exc:
            self._transport_failed(call, number, began, exc)
        duration_ms = (self._clock() - began) * 1000.0
        status = response.status_code
        if self._quota_parser is not None and call.quota:
            hint = self._quota_parser(response.headers)
            if hint is not None:
                limiter.observe(hint)
        error = self._error_parser(response) if self.policy.needs_body(status) else None
        rule = self.policy.decide(status, error)
        if rule.resolution is Resolution.OK:
            attempt = Attempt(self.name, call.method, call.path, status, duration_ms, number, "ok")
            log_attempt(attempt)
            self._metrics.record(attempt)
            return response
        error = error or ApiError()
        told = parse_retry_after(response.headers.get("Retry-After"), self._now())
        if told is None:
            told = error.retry_after
        if told is None and rule.wait_cap_seconds is None:
            told = rule.wait_hint_seconds
        call.kind = call.reason = _describe(status, rule, error)
        if told is not None and rule.resolution in _TOLD_MATTERS:
            call.reason += f", told to wait {told:g} s"
        outcome = rule.resolution.value
        if rule.resolution is Resolution.RETRY and not call.repeatable:
            outcome = "failed_not_idempotent"
        attempt = Attempt(
            self.name, call.method, call.path, status, duration_ms, number, outcome, call.reason
        )
        log_attempt(attempt)
        self._metrics.record(attempt)
        await self._resolve(call, status, rule, error, told, token, limiter)

    def _transport_failed(
        self, call: _Call, number: int, began: float, exc: httpx.TransportError
    ) -> NoReturn:
        duration_ms = (self._clock() - began) * 1000.0
        kind = type(exc).__name__
        call.kind = call.reason = kind
        sent = not isinstance(exc, _NOT_SENT)
        if isinstance(exc, _BROKEN_REQUEST):
            outcome = "fatal"
        elif sent and not call.repeatable:
            outcome = "failed_not_idempotent"  # the server may have acted: never send it twice
        else:
            outcome = "retry"
        attempt = Attempt(
            self.name, call.method, call.path, None, duration_ms, number, outcome, kind
        )
        log_attempt(attempt)
        self._metrics.record(attempt)
        where = f"{self.name}: {call.method} {call.path}"
        # `from None`: the library's message may quote anything (a URL, a proxy's reply); the
        # exception type says what happened.
        if isinstance(exc, _BROKEN_REQUEST):
            raise HttpConfigurationError(f"{where}: invalid request ({kind})") from None
        raise TransportError(f"{where}: {kind}", sent=sent) from None

    async def _resolve(
        self,
        call: _Call,
        status: int,
        rule: Rule,
        error: ApiError,
        told: float | None,
        token: str | None,
        limiter: RateLimiter,
    ) -> NoReturn:
        api_message = clip(_redact(error.message, token))
        where = f"{self.name}: {call.method} {call.path} -> HTTP {status}"
        detail = f"{self.name}: {call.method} {call.path} -> {call.reason}" + (
            f": {api_message}" if api_message else ""
        )
        resolution = rule.resolution
        if resolution is Resolution.RETRY:
            raise ServerError(detail, status=status, retry_after=told)
        if resolution is Resolution.WAIT:
            if status == 429:
                call.rate_limited += 1
            if told is None and rule.wait_cap_seconds is not None:
                # One slot of the window as this account has it (configured, or lowered by the
                # server's headers); the table's figure where the limiter has no window.
                slot = limiter.slot_seconds()
                first = slot if slot is not None else rule.wait_hint_seconds
                raise RateLimitedError(detail, first_wait=first, max_wait=rule.wait_cap_seconds)
            raise RateLimitedError(detail, retry_after=told)
        if resolution is Resolution.QUOTA:
            if told is not None:
                limiter.exhaust(told)  # later requests fail fast instead of spending calls
            raise QuotaExhaustedError(detail, resets_in=told)
        if resolution is Resolution.RECORD:
            raise HttpRecordError(
                detail,
                status=status,
                code=error.code,
                category=error.category,
                api_message=api_message,
            )
        if resolution is Resolution.REFRESH_AUTH and self._auth is not None and not call.refreshed:
            call.refreshed = True
            try:
                await self._auth.refresh(token)
            except ConfigurationError as refused:
                raise HttpConfigurationError(f"{where}: {refused}", status=status) from None
            raise AuthExpiredError(detail)
        if resolution is Resolution.REFRESH_AUTH:
            again = " again after a token refresh" if call.refreshed else ""
            raise HttpConfigurationError(
                f"{detail}: credentials rejected{again}; check them", status=status, code=error.code
            )
        raise HttpConfigurationError(detail, status=status, code=error.code)


def _may_repeat(call: _Call, exc: BaseException) -> bool:
    """Whether another attempt is allowed after `exc` (the idempotency rule of the module doc)."""
    if isinstance(exc, RateLimitedError | AuthExpiredError):
        return True
    if isinstance(exc, TransportError):
        return call.repeatable or not exc.sent
    if isinstance(exc, ServerError):
        return call.repeatable
    return False


def _describe(status: int, rule: Rule, error: ApiError | None) -> str:
    parts = [rule.reason or rule.resolution.value]
    if error is not None:
        parts.extend(key for key in error.match_keys() if key not in parts)
    return f"HTTP {status} " + "/".join(parts)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def build_async_client(
    settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The shared `httpx.AsyncClient`: explicit timeouts, bounded pool, no redirects, no env."""
    timeout = settings.timeout
    return httpx.AsyncClient(
        base_url=settings.base_url,
        timeout=httpx.Timeout(
            connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
        ),
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
            keepalive_expiry=30.0,
        ),
        headers={"User-Agent": settings.user_agent},
        follow_redirects=False,
        # Proxy variables and .netrc from the environment are ignored unless a proxy is set.
        trust_env=settings.proxy is not None,
        proxy=settings.proxy,
        transport=transport,
    )


def side_client(
    transport: httpx.AsyncBaseTransport | None = None, *, base_url: str = ""
) -> httpx.AsyncClient:
    """A client for an adapter's few calls outside `ApiClient` (a token endpoint, a probe's
    single read): no redirects, so a token request is never sent on to another host; no proxy
    or .netrc from the environment, as `build_async_client` without a proxy; 30 s a step."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=30.0,
    )
