"""Rate limits of one endpoint, as pure logic: sliding-window buckets, a limiter, adaptive concurrency.

Nothing here does I/O or awaits: time comes from an injected :class:`~orchestra.clock.Clock`, and
a caller that may not proceed is told *how long* to wait instead of being blocked, so every rule
is tested synchronously with :class:`~orchestra.clock.FakeClock`. The async shell that waits is
:mod:`orchestra.endpoints.limited`.

Three decisions answer the requirements of docs/design.md ("Endpoints"):

- **Sliding-window buckets.** A classic bucket of capacity C that refills continuously lets 2C
  through in some 60 s window (a full bucket drained at t=0, refilled by t=60); servers that
  count over a window then answer 429. Here each debit comes back exactly one window after its
  request *ended* (the server admitted it somewhere before that), so no window of that length
  ever holds more than C, at the server, whatever the network delays.
- **No head-of-line blocking.** There is no FIFO head: :meth:`RateLimiter.try_acquire` grants
  or answers with a wait for each caller on its own, so a large request that does not fit yet
  never stalls a smaller one that does (the peers that ``sleep(60/rate)`` in order, or hold a
  FIFO head, serialise behind their largest request). The price: under a steady stream of small
  requests a large one may wait longer than its turn.
- **Debit up front, refund from usage.** A request debits prompt + ``max_tokens`` when it starts
  (OpenAI counts it that way too) and the difference comes back when ``usage`` is known.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.headers import parse_duration, parse_number, parse_retry_after
from orchestra.faults import Outcome

__all__ = [
    "AdaptiveConcurrency",
    "LimiterStats",
    "Outcome",
    "Permit",
    "RateLimiter",
    "Reservation",
    "TokenBucket",
    "parse_duration",
]

log = logging.getLogger(__name__)


# -- the sliding-window bucket -----------------------------------------------------------------


class Reservation:
    """A debit taken from a :class:`TokenBucket`; hand it back to :meth:`TokenBucket.refund`.

    Attributes:
        amount: what is debited now (the reserved amount until a refund changes it).
        expires_at: when the debit returns to the bucket.
    """

    __slots__ = ("amount", "expires_at")

    def __init__(self, amount: float, expires_at: float) -> None:
        self.amount = amount
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"Reservation(amount={self.amount}, expires_at={self.expires_at})"


class TokenBucket:
    """A bucket of ``capacity`` units whose debits come back one ``window`` after their use ended.

    A plain debit (:meth:`take`) is used at once and returns one window after it was taken. A
    *held* debit (``take(..., hold=True)``, for a request in flight) returns one window after
    :meth:`finish`. Either way the sum of debits whose use falls within any interval of length
    ``window`` never exceeds ``capacity`` (refunds only lower it), which is the guarantee a
    server counting "per minute" checks.

    Why hold: the server counts a request when it *admits* it, somewhere between our grant and
    its answer, after a delay we do not see (connection set-up, queues). Measured on loopback,
    the first 40 requests of a run were admitted ~85 ms after their grant and the next 40 ~4 ms
    after theirs, so windows counted from the grant overlapped and the server saw 59 requests
    in one window of a 40-per-window limit. Counting from the answer is safe whatever the
    delay; it costs latency/(window + latency) of throughput (~1.6% for 1 s answers under a
    60 s window).

    A single request larger than ``capacity`` could never fit; it is clamped to ``capacity`` (it
    waits for an empty bucket and then takes all of it) rather than waiting forever.

    Args:
        capacity: units per window (requests or tokens).
        window: seconds a debit stays taken after its use.
        clock: time source.
    """

    def __init__(self, capacity: float, window: float, clock: Clock) -> None:
        if capacity <= 0 or window <= 0:
            raise ValueError("capacity and window must be positive")
        self.capacity = capacity
        self.window = window
        self.clock = clock
        self._debits: deque[Reservation] = deque()  # returning debits, in expiry order
        self._held: set[Reservation] = set()  # debits in use: they return only after finish()
        self._used = 0.0
        # A debit learned from the server (x-ratelimit-remaining lower than we think): usage we
        # did not send ourselves, e.g. another client sharing the key. It lasts until the reset.
        self._shadow = 0.0
        self._shadow_until = 0.0

    def _purge(self) -> float:
        now = self.clock.now()
        while self._debits and self._debits[0].expires_at <= now:
            self._used -= self._debits.popleft().amount
        if self._shadow and self._shadow_until <= now:
            self._shadow = 0.0
        if self._shadow < 0 and self._used + self._shadow < 0:
            self._shadow = -self._used  # a credit never makes more than the capacity available
        if not self._debits and not self._held:
            self._used = 0.0  # no float drift survives an empty window
        return now

    def used(self) -> float:
        """Units taken in the current window, including what the server told us about."""
        self._purge()
        return self._used + self._shadow

    def available(self) -> float:
        """Units that may be taken now (negative when a refund reported more than reserved)."""
        return self.capacity - self.used()

    def own_available(self) -> float:
        """Units available counting only our own debits (what :meth:`learn` compares with)."""
        self._purge()
        return self.capacity - self._used

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` fits (0.0 now; ``math.inf`` when only a :meth:`finish` can help)."""
        now = self._purge()
        need = self._used + self._shadow + min(amount, self.capacity) - self.capacity
        if need <= 0:
            return 0.0
        freed = 0.0
        shadow_pending = self._shadow > 0
        for debit in self._debits:
            if shadow_pending and self._shadow_until <= debit.expires_at:
                freed += self._shadow
                shadow_pending = False
                if freed >= need:
                    return self._shadow_until - now
            freed += debit.amount
            if freed >= need:
                return debit.expires_at - now
        if shadow_pending and freed + self._shadow >= need:
            return max(0.0, self._shadow_until - now)
        return math.inf  # the rest is held by requests in flight

    def take(self, amount: float, *, hold: bool = False) -> Reservation:
        """Debit ``amount`` now, fitting or not (callers check :meth:`wait_time` first).

        With ``hold``, the debit stays taken until :meth:`finish` and returns a window later.
        """
        now = self._purge()
        reservation = Reservation(min(amount, self.capacity), math.inf if hold else now + self.window)
        if hold:
            self._held.add(reservation)
        else:
            self._debits.append(reservation)
        self._used += reservation.amount
        return reservation

    def try_take(self, amount: float, *, hold: bool = False) -> Reservation | float:
        """Debit ``amount`` if it fits now; otherwise return the seconds until it would."""
        wait = self.wait_time(amount)
        return self.take(amount, hold=hold) if wait <= 0 else wait

    def refund(self, reservation: Reservation, actual_amount: float) -> None:
        """Correct a debit to what was really used (usually less than reserved).

        A debit that already returned is left alone (it no longer counts).
        """
        if reservation.expires_at <= self._purge():
            return
        self._used += actual_amount - reservation.amount
        reservation.amount = actual_amount

    def finish(self, reservation: Reservation, actual_amount: float | None = None) -> None:
        """End the use of a held debit (correcting it to ``actual_amount`` if given).

        It returns to the bucket one window from now. A plain debit is only corrected.
        """
        if actual_amount is not None:
            self.refund(reservation, actual_amount)
        if reservation in self._held:
            now = self._purge()
            self._held.remove(reservation)
            reservation.expires_at = now + self.window
            self._debits.append(reservation)

    def learn(
        self, remaining: float, reset: float, *, seen_available: float | None = None, credit: bool = False
    ) -> bool:
        """Take in the server's view: ``remaining`` units left, full again in ``reset`` seconds.

        When the server has fewer units left than we had (``seen_available``: what we thought
        was available by our own debits when that request was granted; default: now), the
        difference is usage we did not send: debit it until ``reset``, replacing the previous
        such debit. With ``credit`` (a limit we only learned, whose window we may overestimate),
        more units left at the server than by our count are credited until ``reset``: the server
        has shown it accepts them. Returns whether units were credited.
        """
        now = self._purge()
        ours = self.capacity - self._used if seen_available is None else seen_available
        self._shadow = ours - remaining if credit else max(0.0, ours - remaining)
        self._shadow_until = now + reset
        self._purge()
        return self._shadow < 0


# -- outcomes, permits, stats ------------------------------------------------------------------


@dataclass(eq=False)
class Permit:
    """A granted request: hand it back to :meth:`RateLimiter.release` exactly once.

    Attributes:
        tokens: tokens debited up front.
        granted_at: clock time of the grant.
        requests: the request-bucket debit (None when there is no RPM limit).
        token_debit: the token-bucket debit (None when there is no TPM limit).
        requests_seen: requests available right after this grant, by our own debits only (to
            compare with the server's ``x-ratelimit-remaining-requests`` for this request).
        tokens_seen: the same for tokens.
        epoch: the adaptive-concurrency epoch it was granted in.
        cap_refusals: the limiter's count of concurrency refusals at the grant.
    """

    tokens: int
    granted_at: float
    requests: Reservation | None
    token_debit: Reservation | None
    requests_seen: float | None
    tokens_seen: float | None
    epoch: int
    cap_refusals: int = 0
    released: bool = False


@dataclass(frozen=True)
class LimiterStats:
    """A snapshot of one limiter, for progress displays and the batch summary."""

    granted: int
    released: int
    rate_limited: int
    congested: int
    in_flight: int
    tokens_reserved: int
    tokens_used: int
    concurrency_limit: int | None
    rpm: float | None
    tpm: float | None
    requests_available: float | None
    tokens_available: float | None
    paused_for: float


# -- adaptive concurrency (AIMD) ---------------------------------------------------------------


class AdaptiveConcurrency:
    """Slow start, then additive increase; a cut only when a share of a round trip's requests say so.

    For servers that state no limits (vLLM, llama.cpp, Ollama). Three rules:

    - **Slow start** (TCP's, RFC 5681): while no signal has come, every success that found the cap
      full adds one, so the limit doubles each round trip until it covers the demand. Growing by
      one per round trip from 100 reached only 111-144 requests in flight against a server that
      took 500, slower than a plain semaphore.
    - **Stop signals**: congestion (429, 503, timeouts), or latency rising with load: once the
      smoothed latency of answers exceeds ``latency_rise`` times the lowest seen, growth turns
      additive (about +1 a round trip, TCP's congestion avoidance).
    - **Cuts judged by share**: the limit is multiplied by ``decrease`` when congested outcomes
      make up at least ``congestion_share`` of the recent outcomes (an average over about one
      round trip of answers), at most once per round trip (each cut starts an *epoch*; congestion
      from requests granted before it is ignored). A few 429s and 503s among many successes are
      faults, not load: cutting on each one shrank the limit to 1-14 under a 5% fault mix.

    Args:
        initial: the starting limit.
        minimum: the limit never goes below this.
        maximum: the limit never goes above this (None: no ceiling).
        decrease: factor applied on congestion.
        increase: added per ``limit`` successes once slow start is over.
        congestion_share: share of congested outcomes over a round trip that cuts the limit.
        latency_rise: smoothed latency over the lowest latency that ends slow start.
    """

    def __init__(
        self,
        initial: int = 100,
        *,
        minimum: int = 1,
        maximum: int | None = None,
        decrease: float = 0.7,
        increase: float = 1.0,
        congestion_share: float = 0.1,
        latency_rise: float = 2.0,
    ) -> None:
        if minimum < 1 or initial < minimum or not 0 < decrease < 1 or increase <= 0:
            raise ValueError("need 1 <= minimum <= initial, 0 < decrease < 1, increase > 0")
        if not 0 < congestion_share <= 1 or latency_rise <= 1:
            raise ValueError("need 0 < congestion_share <= 1 and latency_rise > 1")
        self.minimum = minimum
        self.maximum = maximum
        self.decrease = decrease
        self.increase = increase
        self.congestion_share = congestion_share
        self.latency_rise = latency_rise
        self._limit = float(initial if maximum is None else min(initial, maximum))
        self.ssthresh = math.inf  # slow start until a signal
        self.epoch = 0
        self._share = 0.0  # moving average of "this outcome was congested" in the current epoch
        self._events = 0  # congested outcomes in the current epoch
        self._base_latency = math.inf
        self._latency = 0.0  # smoothed latency of successes

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(self.minimum, int(self._limit))

    @property
    def slow_start(self) -> bool:
        """Whether the limit still grows multiplicatively."""
        return self._limit < self.ssthresh

    def _observe(self, congested: bool) -> None:
        weight = 1.0 / max(1.0, self._limit)  # about one round trip of outcomes
        self._share += weight * ((1.0 if congested else 0.0) - self._share)

    def on_success(self, saturated: bool, latency: float | None = None) -> None:
        """A request succeeded; ``saturated``: the cap held some request back during its life.

        Only then does the limit grow: a cap that is not what limits the load proves nothing by
        succeeding (TCP's rule for application-limited flows, RFC 7661). ``latency`` (seconds)
        feeds the latency-rise signal.
        """
        self._observe(False)
        if latency is not None and math.isfinite(latency) and latency >= 0:
            self._base_latency = min(self._base_latency, latency)
            self._latency = latency if self._latency == 0.0 else 0.9 * self._latency + 0.1 * latency
            if self.slow_start and self._latency > self.latency_rise * max(self._base_latency, 1e-3):
                self.ssthresh = self._limit  # load raises latency: no more doubling
        if not saturated:
            return
        grown = self._limit + (1.0 if self.slow_start else self.increase / self._limit)
        self._limit = grown if self.maximum is None else min(float(self.maximum), grown)

    def on_congestion(self, epoch: int) -> bool:
        """A request granted in ``epoch`` met congestion; returns whether the limit was cut."""
        if epoch < self.epoch:
            return False
        self._observe(True)
        self._events += 1
        if self._events < 2 or self._share < self.congestion_share:
            return False
        self._limit = max(float(self.minimum), self._limit * self.decrease)
        self.ssthresh = self._limit
        self.epoch += 1
        self._share = 0.0
        self._events = 0
        return True


# -- the limiter -------------------------------------------------------------------------------

_HEADER = "x-ratelimit-{}-{}"


class RateLimiter:
    """Requests-per-window and tokens-per-window buckets, a concurrency cap, and pauses.

    :meth:`try_acquire` grants a :class:`Permit` or returns the seconds to wait (``math.inf``
    when only a release can help: the concurrency cap). It never blocks and keeps no queue, so
    there is no head-of-line blocking. Listeners registered with :meth:`add_listener` are called
    whenever capacity may have come back other than by time passing (a release, a refund).

    Args:
        rpm: requests per ``window`` (None: unlimited, until headers say otherwise).
        tpm: tokens per ``window`` (None: unlimited, until headers say otherwise).
        max_concurrency: requests in flight at most (None: no cap unless ``adaptive``).
        window: the window in seconds (60 for OpenAI's per-minute limits; short in tests).
        clock: time source.
        adaptive: adapt the concurrency cap (slow start, then AIMD; servers that send no limits).
        initial_concurrency: where the adaptive cap starts.
        learned_window: the window a limit learned from headers starts with (stretched up to
            ``window`` by the server's reset and retry-after evidence).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrency: int | None = None,
        window: float = 60.0,
        clock: Clock | None = None,
        adaptive: bool = False,
        initial_concurrency: int = 100,
        learned_window: float = 1.0,
    ) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.name = "endpoint"  # for log lines; LimitedEndpoint gives it its endpoint's name
        self.window = window
        self.learned_window = learned_window
        self._configured = {"requests": rpm, "tokens": tpm}
        self.requests = TokenBucket(rpm, window, self.clock) if rpm else None
        self.tokens = TokenBucket(tpm, window, self.clock) if tpm else None
        self.max_concurrency = max_concurrency
        self.adaptive = (
            AdaptiveConcurrency(initial_concurrency, maximum=max_concurrency) if adaptive else None
        )
        self._paused_until = -math.inf
        self._listeners: list[Callable[[], None]] = []
        self._in_flight = 0
        self._cap_refusals = 0  # requests the concurrency cap turned away: demand above the cap
        self._granted = self._released = self._rate_limited = self._congested = 0
        self._tokens_reserved = self._tokens_used = 0

    # -- acquiring ---------------------------------------------------------------------------

    @property
    def concurrency_limit(self) -> int | None:
        """The cap on requests in flight now (None: no cap)."""
        if self.adaptive is not None:
            return self.adaptive.limit
        return self.max_concurrency

    @property
    def in_flight(self) -> int:
        """Requests granted and not released yet."""
        return self._in_flight

    def wait_time(self, tokens: int = 0) -> float:
        """Seconds until a request of ``tokens`` tokens could be granted (0.0: now); changes nothing.

        ``math.inf`` means only a release can help (the concurrency cap, or debits in flight).
        """
        now = self.clock.now()
        if now < self._paused_until:
            return self._paused_until - now
        limit = self.concurrency_limit
        if limit is not None and self._in_flight >= limit:
            return math.inf
        return max(
            self.requests.wait_time(1) if self.requests else 0.0,
            self.tokens.wait_time(tokens) if self.tokens else 0.0,
        )

    def try_acquire(self, tokens: int = 0) -> Permit | float:
        """Grant a request that will use up to ``tokens`` tokens, or say how long to wait.

        Returns:
            A :class:`Permit`, or the seconds until the request could fit (``math.inf`` when
            only a release can help). Nothing is debited unless a permit is returned.
        """
        wait = self.wait_time(tokens)
        if wait > 0:
            limit = self.concurrency_limit
            if limit is not None and self._in_flight >= limit:
                self._cap_refusals += 1  # demand above the cap: the adaptive cap may grow
            return wait
        now = self.clock.now()
        request_debit = self.requests.take(1, hold=True) if self.requests else None
        token_debit = self.tokens.take(tokens, hold=True) if self.tokens else None
        self._in_flight += 1
        self._granted += 1
        self._tokens_reserved += tokens
        return Permit(
            tokens=tokens,
            granted_at=now,
            requests=request_debit,
            token_debit=token_debit,
            requests_seen=self.requests.own_available() if self.requests else None,
            tokens_seen=self.tokens.own_available() if self.tokens else None,
            epoch=self.adaptive.epoch if self.adaptive else 0,
            cap_refusals=self._cap_refusals,
        )

    def release(self, permit: Permit, used_tokens: int | None = None, outcome: Outcome = Outcome.OK) -> None:
        """Hand a permit back.

        Args:
            permit: from :meth:`try_acquire`; a second release of the same permit is ignored.
            used_tokens: tokens really used (``usage.total_tokens``); the token debit is
                corrected to it. None keeps the up-front debit (usage unknown, e.g. a timeout
                the server may still be working on). Both debits start their window now (see
                :class:`TokenBucket`).
            outcome: how the request ended; drives adaptive concurrency and the 429 count.
        """
        if permit.released:
            return
        permit.released = True
        if self.adaptive is not None:
            if outcome is Outcome.OK:
                saturated = self._cap_refusals > permit.cap_refusals or self._in_flight >= self.adaptive.limit
                self.adaptive.on_success(saturated, self.clock.now() - permit.granted_at)
            elif outcome.congested and self.adaptive.on_congestion(permit.epoch):
                log.info("%s: %s, concurrency limit cut to %d", self.name, outcome.value, self.adaptive.limit)
        self._in_flight -= 1
        self._released += 1
        self._rate_limited += outcome is Outcome.RATE_LIMITED
        self._congested += outcome.congested
        if used_tokens is not None:
            self._tokens_used += used_tokens
        if self.requests is not None and permit.requests is not None:
            self.requests.finish(permit.requests)
        if self.tokens is not None and permit.token_debit is not None:
            self.tokens.finish(permit.token_debit, used_tokens)
        self._notify()

    def revoke(self, permit: Permit) -> None:
        """Hand back a permit whose request was never sent: both debits are refunded in full."""
        if permit.released:
            return
        if self.requests is not None and permit.requests is not None:
            self.requests.finish(permit.requests, 0)
        self.release(permit, 0, Outcome.CANCELLED)

    # -- pauses and server feedback ----------------------------------------------------------

    def pause_until(self, t: float) -> None:
        """Grant nothing before clock time ``t`` (a 429 pauses the whole endpoint, not one request)."""
        if t > self._paused_until:
            log.info("%s: paused for %.2f s", self.name, t - self.clock.now())
        self._paused_until = max(self._paused_until, t)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now."""
        self.pause_until(self.clock.now() + max(0.0, seconds))

    @property
    def paused_for(self) -> float:
        """Seconds left in the current pause (0.0 when not paused)."""
        return max(0.0, self._paused_until - self.clock.now())

    def observe_headers(self, headers: Mapping[str, str], permit: Permit | None = None) -> None:
        """Learn limits from ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``.

        ``limit`` sets the bucket's capacity (never above an explicitly configured one).
        ``remaining`` lower than what we had available means someone else uses the same limit:
        the difference is debited until ``reset``. Give the ``permit`` of the request whose
        response carried the headers when known: the server counted ``remaining`` when that
        request arrived, so it is compared with what we had then, not with now.

        A *learned* limit (one not configured) never throttles below what the server shows it
        accepts. Its window is not assumed to be ``window`` (a minute): it starts at
        ``learned_window`` and is stretched only by evidence, the longest ``reset`` (time until
        the server's limit is full again, which is at most its window) or, on an exhausted limit,
        ``retry-after``. And when the server has *more* left than our own count says, the
        difference is credited until its reset. Assuming a minute made a server with a 5 s window
        and 60 requests (12 a second) into 60 a minute, 9% of what it allows.

        Every value is parsed safely: unreadable, negative or infinite numbers are ignored.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        hint = parse_retry_after(lowered)
        for kind in ("requests", "tokens"):
            limit = parse_number(lowered.get(_HEADER.format("limit", kind)))
            remaining = parse_number(lowered.get(_HEADER.format("remaining", kind)))
            reset = parse_duration(lowered.get(_HEADER.format("reset", kind)))
            bucket = self._learn_capacity(kind, limit)
            if bucket is None:
                continue
            learned = self._configured[kind] is None
            if learned:
                exhausted = remaining is None or remaining < 1
                self._stretch_window(bucket, reset)
                self._stretch_window(bucket, hint if exhausted else None)
            if remaining is None or reset is None:
                continue
            seen = None
            if permit is not None:
                seen = permit.requests_seen if kind == "requests" else permit.tokens_seen
            if bucket.learn(remaining, min(reset, self.window), seen_available=seen, credit=learned):
                self._notify()

    def _stretch_window(self, bucket: TokenBucket, seconds: float | None) -> None:
        if seconds is not None and seconds > bucket.window:
            bucket.window = min(self.window, seconds)

    def _learn_capacity(self, kind: str, limit: float | None) -> TokenBucket | None:
        bucket = self.requests if kind == "requests" else self.tokens
        if limit is None or limit <= 0:
            return bucket
        configured = self._configured[kind]
        capacity = limit if configured is None else min(configured, limit)
        if bucket is None:
            log.info(
                "%s: learned a limit of %g %s per %g s from headers", self.name, capacity, kind, self.window
            )
            bucket = TokenBucket(capacity, min(self.window, self.learned_window), self.clock)
            setattr(self, kind, bucket)
        elif bucket.capacity != capacity:
            log.info(
                "%s: %s limit changed from %g to %g per %g s (headers)",
                self.name, kind, bucket.capacity, capacity, self.window,
            )  # fmt: skip
            grew = capacity > bucket.capacity
            bucket.capacity = capacity
            if grew:
                self._notify()
        return bucket

    # -- listeners and stats -----------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever capacity may have come back (release, refund, higher limit)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    @property
    def stats(self) -> LimiterStats:
        """A snapshot of counters and current limits."""
        return LimiterStats(
            granted=self._granted,
            released=self._released,
            rate_limited=self._rate_limited,
            congested=self._congested,
            in_flight=self._in_flight,
            tokens_reserved=self._tokens_reserved,
            tokens_used=self._tokens_used,
            concurrency_limit=self.concurrency_limit,
            rpm=self.requests.capacity if self.requests else None,
            tpm=self.tokens.capacity if self.tokens else None,
            requests_available=self.requests.available() if self.requests else None,
            tokens_available=self.tokens.available() if self.tokens else None,
            paused_for=self.paused_for,
        )
