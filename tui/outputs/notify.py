"""Notifications of alert episodes: an Alertmanager-format webhook and Telegram.

The alert engine tells :meth:`Notifier.submit` of every transition it journals; the firing and
resolved ones of the configured severities become one message per channel. ``submit`` only
puts the message on the channel's bounded queue: a thread per channel sends it (stdlib HTTP),
with retries and a rate limit, so a slow or dead receiver never delays a poll. Credentials are
redacted from everything logged (they are in ``secrets_of``, like the database password).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from tui import __version__
from tui.config import Config, redact, secrets_of

log = logging.getLogger(__name__)
MAX_QUEUED = 1000  # per channel; beyond it the oldest waiting message is dropped (and counted)
MAX_RETRY_AFTER_S = 300.0
TELEGRAM_MAX_CHARS = 4096
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"


class SendError(Exception):
    def __init__(self, reason: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry = retry
        self.retry_after = retry_after


class RateLimiter:
    """A token bucket: ``per_minute`` messages at once, then one every 60/per_minute s."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.at = clock()

    def wait_s(self) -> float:
        """Seconds until a message may go (0: now)."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


def _rfc3339(value: str | None) -> str:
    if not value:
        return ZERO_TIME
    return datetime.fromisoformat(value).isoformat().replace("+00:00", "Z")


def alert_labels(transition: dict[str, Any], bot: str) -> dict[str, str]:
    return {"alertname": str(transition["rule"]), "severity": str(transition["severity"]),
            "bot": bot, "source": "botmon"}


def alertmanager_payload(transition: dict[str, Any], bot: str) -> dict[str, Any]:
    """One episode transition in the Alertmanager webhook format (version 4)."""
    labels = alert_labels(transition, bot)
    status = "resolved" if transition["event"] == "resolved" else "firing"
    annotations = {key: str(transition[name]) for key, name in (
        ("summary", "message"), ("runbook", "runbook"), ("episode", "episode"),
        ("value", "held_value"), ("threshold", "threshold"), ("metric", "metric"),
        ("window", "window")) if transition.get(name) not in (None, "")}
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {"status": status, "labels": labels, "annotations": annotations,
             "startsAt": _rfc3339(transition.get("fired") or transition.get("start")),
             "endsAt": _rfc3339(transition.get("end")) if status == "resolved" else ZERO_TIME,
             "generatorURL": "", "fingerprint": fingerprint}
    group = "{}:{" + ", ".join(f'{k}="{labels[k]}"' for k in ("alertname", "bot")) + "}"
    return {"version": "4", "groupKey": group, "truncatedAlerts": 0, "status": status,
            "receiver": "botmon", "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": labels, "commonAnnotations": annotations, "externalURL": "",
            "alerts": [alert]}


def _clock(value: str | None) -> str:
    """The monitor host's local time, as botmon's screen shows it, with its zone."""
    if not value:
        return "?"
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def telegram_text(transition: dict[str, Any], bot: str) -> str:
    """Plain text (no parse mode: nothing in a message can break the markup)."""
    resolved = transition["event"] == "resolved"
    head = "✅ RESOLVED" if resolved else "🔴 FIRING"
    lines = [f"{head} · {transition['severity'].upper()} · {transition['episode']} · bot {bot}",
             str(transition.get("message") or transition["rule"])]
    if resolved:
        lines.append(f"fired {_clock(transition.get('fired'))}, resolved "
                     f"{_clock(transition.get('end'))} ({transition.get('minutes', 0)} min held)")
    else:
        lines.append(f"since {_clock(transition.get('start'))}")
    if transition.get("runbook") and not resolved:
        lines += ["", f"Runbook: {transition['runbook']}"]
    text = "\n".join(lines)
    return text if len(text) <= TELEGRAM_MAX_CHARS else text[:TELEGRAM_MAX_CHARS - 1] + "…"


def post_json(url: str, body: dict[str, Any], timeout_s: float) -> None:
    """POST ``body``; raises SendError (retry on network errors, 5xx and 429)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"botmon/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc)
        raise SendError(f"HTTP {exc.code} {exc.reason}", exc.code == 429 or exc.code >= 500,
                        retry_after) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"{type(exc).__name__}: {reason}", True) from None


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Retry-After, or Telegram's ``parameters.retry_after`` in the body of a 429."""
    header = exc.headers.get("Retry-After") if exc.headers else None
    try:
        if header:
            return float(header)
        body = json.loads(exc.read() or b"{}")
        return float(body.get("parameters", {}).get("retry_after"))
    except (TypeError, ValueError, AttributeError, OSError):
        return None


class Channel:
    """One receiver: how to turn a transition into a request, and where it goes."""

    def __init__(self, name: str, url: str, target: str,
                 body: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.name = name
        self.url = url
        self.target = target  # what a log line may show (no credentials)
        self.body = body


def channels_of(config: Config, bot: str) -> list[Channel]:
    notify = config.notify
    found = []
    if notify.webhook_url:
        parts = urlsplit(notify.webhook_url)
        found.append(Channel("webhook", notify.webhook_url,
                             f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":"),
                             lambda t: alertmanager_payload(t, bot)))
    if notify.telegram_bot_token:
        base = notify.telegram_api_url.rstrip("/")
        chat = notify.telegram_chat_id
        found.append(Channel("telegram", f"{base}/bot{notify.telegram_bot_token}/sendMessage",
                             f"telegram chat {chat}",
                             lambda t: {"chat_id": chat, "text": telegram_text(t, bot),
                                        "disable_web_page_preview": True}))
    return found


class _Sender:
    """A channel's queue and thread: one message at a time, retried, rate-limited."""

    def __init__(self, channel: Channel, notifier: Notifier) -> None:
        self.channel = channel
        self.notifier = notifier
        self.queue: queue.Queue = queue.Queue(maxsize=MAX_QUEUED)
        self.limiter = RateLimiter(notifier.config.notify.rate_limit_per_minute, notifier.clock)
        self.thread = threading.Thread(target=self._run, name=f"botmon-notify-{channel.name}",
                                       daemon=True)

    def put(self, transition: dict[str, Any]) -> None:
        while True:
            try:
                self.queue.put_nowait(transition)
                return
            except queue.Full:  # a dead receiver for hours: keep the newest transitions
                try:
                    self.queue.get_nowait()
                    self.queue.task_done()
                    self.notifier.count(self.channel, "dropped")
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            transition = self.queue.get()
            try:
                if transition is None:
                    return
                self._deliver(transition)
            except Exception as exc:  # noqa: BLE001 - the sender must outlive any message
                self.notifier.failed(self.channel, transition, f"{type(exc).__name__}: {exc}")
            finally:
                self.queue.task_done()

    def _deliver(self, transition: dict[str, Any]) -> None:
        notify = self.notifier.config.notify
        while (delay := self.limiter.wait_s()) > 0:
            if self.notifier.stopping.wait(delay):
                break
        self.limiter.take()
        body = self.channel.body(transition)
        backoff = notify.retry_backoff_s
        for attempt in range(notify.retries + 1):
            try:
                self.notifier.send(self.channel.url, body, notify.timeout_s)
                self.notifier.count(self.channel, "sent")
                return
            except SendError as exc:
                if not exc.retry or attempt == notify.retries:
                    self.notifier.failed(self.channel, transition, str(exc))
                    return
                wait = min(exc.retry_after if exc.retry_after is not None else backoff,
                           MAX_RETRY_AFTER_S)
                backoff *= 2
                if self.notifier.stopping.wait(wait):  # closing: give up on waiting
                    self.notifier.failed(self.channel, transition, f"{exc} (closing)")
                    return


class Notifier:
    """Engine listener that sends the configured episode transitions to every channel."""

    def __init__(self, config: Config, bot: str, *,
                 send: Callable[[str, dict[str, Any], float], None] = post_json,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``send`` and ``clock`` (the rate limiter's) are replaceable for tests."""
        self.config = config
        self.bot = bot
        self.send = send
        self.clock = clock
        self.stopping = threading.Event()
        self.secrets = secrets_of(config)
        self.stats: Counter = Counter()  # (channel, sent/failed/dropped) -> messages
        self._lock = threading.Lock()
        self.senders = [_Sender(channel, self) for channel in channels_of(config, bot)]
        for sender in self.senders:
            sender.thread.start()

    @property
    def enabled(self) -> bool:
        return bool(self.senders)

    def wanted(self, transition: dict[str, Any]) -> bool:
        notify = self.config.notify
        return (transition.get("event") in notify.events
                and transition.get("severity") in notify.severities)

    def submit(self, transition: dict[str, Any]) -> None:
        """The engine's listener (the poll loop's thread): never blocks, never raises."""
        if not self.stopping.is_set() and self.wanted(transition):
            for sender in self.senders:
                sender.put(dict(transition))

    def count(self, channel: Channel, result: str) -> None:
        with self._lock:
            self.stats[(channel.name, result)] += 1

    def failed(self, channel: Channel, transition: dict[str, Any], reason: str) -> None:
        self.count(channel, "failed")
        log.warning("notification %s of %s to %s not sent: %s", transition.get("event"),
                    transition.get("episode"), channel.target, redact(reason, self.secrets))

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued message was sent or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        for sender in self.senders:
            with sender.queue.all_tasks_done:
                while sender.queue.unfinished_tasks:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    sender.queue.all_tasks_done.wait(remaining)
        return True

    def close(self, drain_s: float = 10.0) -> None:
        """Send what is queued (at most ``drain_s``), then stop the threads."""
        if not self.flush(drain_s):
            log.warning("notifications still queued at exit were not sent")
        self.stopping.set()
        for sender in self.senders:
            sender.put(None)  # type: ignore[arg-type]
        for sender in self.senders:
            sender.thread.join(timeout=2)
        sent = {f"{c}.{r}": n for (c, r), n in sorted(self.stats.items())}
        if sent:
            log.info("notifications: %s", sent)
