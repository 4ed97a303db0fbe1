"""Notifications: exactly one message per episode transition to a local webhook (Alertmanager
format) and a local Telegram API, retries, the rate limit, a queue that never blocks the poll
loop, and credentials redacted."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import asyncpg
import pytest

from tui.alerts.engine import engine_for
from tui.config import load_config, redact, secrets_of
from tui.errors import ConfigError
from tui.monitor import Monitor
from tui.outputs.fleet import attach_outputs
from tui.outputs.notify import (MAX_QUEUED, Notifier, RateLimiter, SendError,
                                alertmanager_payload, telegram_text)
from tui.outputs.rundir import RunDir

TOKEN = "123456:AAE-secret-bot-token"


class Receiver:
    """A local HTTP server that records every POST and answers with scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.answers: list[tuple[int, dict]] = []  # popped per request; then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append((self.path, body))
                    status, answer = receiver.answers.pop(0) if receiver.answers else (200, {})
                data = json.dumps(answer or {"ok": True}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self, prefix: str) -> list[dict]:
        with self.lock:
            return [body for path, body in self.requests if path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def notify_config(receiver: Receiver, **extra):
    overrides = {"notify.webhook_url": f"{receiver.url}/hook",
                 "notify.telegram_bot_token": TOKEN, "notify.telegram_chat_id": "-10042",
                 "notify.telegram_api_url": f"{receiver.url}/tg", "notify.retry_backoff_s": 0.0,
                 "metrics.bot": "prod"}
    overrides.update(extra)
    return load_config(environ={}, overrides=overrides)


def transition(event: str = "firing", severity: str = "critical", **extra) -> dict:
    record = {"at": "2026-11-23T10:00:30+00:00", "event": event, "rule": "unprotected_positions",
              "severity": severity, "episode": "unprotected_positions#1", "state": event,
              "start": "2026-11-23T10:00:00+00:00", "fired": "2026-11-23T10:00:30+00:00",
              "end": "2026-11-23T10:05:00+00:00" if event == "resolved" else None,
              "minutes": 5, "held_value": 1, "value": 1, "threshold": 0, "metric": "unprotected",
              "window": "current", "message": "1 open position(s) without a stop-loss",
              "runbook": "Set the stop-loss."}
    record.update(extra)
    return record


async def test_one_message_per_episode_transition_on_a_real_run(bot_db, tmp_path, receiver):
    conn = await asyncpg.connect(bot_db)
    await conn.execute(  # opened an hour ago: past the store's grace for a fresh position
        "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status,"
        " has_stop_loss, opened_at) VALUES ('AUSDT','bybit','long',1,1,'active',false,"
        " now() - interval '1 hour')")
    config = notify_config(receiver, **{"database.dsn": bot_db})
    run_dir = RunDir.create(config, out=str(tmp_path))
    wall = [1_000_000.0]
    alerts = engine_for(config, alerts_path=run_dir.file("alerts.jsonl"))
    monitor = Monitor(config, run_dir, duration_s=None, wall=lambda: wall[0], alerts=alerts)
    try:
        async with contextlib.AsyncExitStack() as stack:
            lines = attach_outputs(config, monitor, stack)
            assert lines == [f"notifications: {receiver.url}, telegram chat -10042 "
                             "(critical episodes: firing, resolved)"]  # no credentials shown
            rule = next(r for r in alerts.rules if r.name == "unprotected_positions")
            await monitor.open()
            await monitor.step()  # pending
            # The database clock moves with the injected wall clock between polls (a poll
            # re-reads the real one), so time is driven by tick() alone.
            for _ in range(int(rule.for_s // 10) + 4):  # held past `for`: fires once,
                wall[0] += 10                          # however often it is evaluated
                await monitor.tick()
            await conn.execute("UPDATE monitoring.positions SET has_stop_loss = true")
            await monitor.step()  # stops holding
            for _ in range(int(rule.keep_firing_for_s // 10) + 4):  # resolves; nothing more
                wall[0] += 10
                await monitor.tick()
            notifier = alerts.listeners[0].__self__
            assert notifier.flush(10)
            await monitor.finish("test")
        # closed with the stack
    finally:
        await monitor.close()
        await conn.close()
    journal = [json.loads(line) for line in run_dir.file("alerts.jsonl").read_text().splitlines()]
    critical = [(j["event"], j["episode"]) for j in journal if j["severity"] == "critical"]
    assert critical == [("pending", "unprotected_positions#1"),
                        ("firing", "unprotected_positions#1"),
                        ("resolved", "unprotected_positions#1")]
    hooks = receiver.paths("/hook")
    assert [(h["status"], h["alerts"][0]["labels"]["alertname"]) for h in hooks] == [
        ("firing", "unprotected_positions"), ("resolved", "unprotected_positions")]
    firing, resolved = hooks
    assert firing["version"] == "4" and firing["receiver"] == "botmon"
    assert firing["alerts"][0]["labels"] == {"alertname": "unprotected_positions",
                                             "severity": "critical", "bot": "prod",
                                             "source": "botmon"}
    assert firing["alerts"][0]["annotations"]["summary"].startswith(
        "1 open position(s) without a stop-loss")
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["startsAt"] == firing["alerts"][0]["startsAt"]
    telegram = receiver.paths(f"/tg/bot{TOKEN}/sendMessage")
    assert [t["text"].split(" · ")[0] for t in telegram] == ["🔴 FIRING", "✅ RESOLVED"]
    assert all(t["chat_id"] == "-10042" for t in telegram)
    assert len(receiver.requests) == 4  # warnings (e.g. snapshot gaps) are not sent by default


def test_retries_server_errors_then_delivers_once(receiver):
    receiver.answers = [(500, {}), (503, {})]
    notifier = Notifier(notify_config(receiver, **{"notify.telegram_bot_token": "",
                                                   "notify.telegram_chat_id": ""}), "prod")
    notifier.submit(transition())
    assert notifier.flush(10)
    notifier.close()
    assert len(receiver.paths("/hook")) == 3  # two failures, one success
    assert notifier.stats[("webhook", "sent")] == 1
    assert notifier.stats[("webhook", "failed")] == 0


def test_telegram_429_retry_after_is_honoured(receiver):
    receiver.answers = [(429, {"ok": False, "parameters": {"retry_after": 0}})]
    waits = []
    notifier = Notifier(notify_config(receiver, **{"notify.webhook_url": "",
                                                   "notify.retry_backoff_s": 30.0}), "prod")
    notifier.stopping.wait = lambda seconds: waits.append(seconds) or False  # type: ignore
    notifier.submit(transition())
    assert notifier.flush(10)
    notifier.close()
    assert waits == [0.0]  # Telegram's retry_after, not the 30 s back-off
    assert len(receiver.paths("/tg")) == 2 and notifier.stats[("telegram", "sent")] == 1


def test_a_client_error_is_not_retried_and_the_token_never_reaches_the_log(receiver, caplog):
    receiver.answers = [(401, {"ok": False})]
    config = notify_config(receiver, **{"notify.webhook_url": ""})
    sent_to = []

    def send(url: str, body: dict, timeout_s: float) -> None:
        sent_to.append(url)
        raise SendError(f"refused by {url}", retry=False)  # a message that quotes the URL

    notifier = Notifier(config, "prod", send=send)
    with caplog.at_level(logging.WARNING, logger="tui.outputs.notify"):
        notifier.submit(transition())
        assert notifier.flush(10)
        notifier.close()
    assert len(sent_to) == 1 and TOKEN in sent_to[0]
    assert notifier.stats[("telegram", "failed")] == 1
    assert "refused by" in caplog.text and TOKEN not in caplog.text and "***" in caplog.text


def test_secrets_are_redacted_like_the_database_password():
    config = load_config(environ={}, overrides={
        "notify.webhook_url": "https://ops:hunter22@hooks.example.com/services/T0/B0/XYZsecret",
        "notify.telegram_bot_token": TOKEN, "notify.telegram_chat_id": "42"})
    secrets = secrets_of(config)
    text = (f"posting to {config.notify.webhook_url} and bot{TOKEN}/sendMessage; "
            "password hunter22")
    cleaned = redact(text, secrets)
    assert TOKEN not in cleaned and "XYZsecret" not in cleaned and "hunter22" not in cleaned
    assert cleaned == "posting to *** and bot***/sendMessage; password ***"


def test_only_the_configured_severities_and_events_are_sent(receiver):
    notifier = Notifier(notify_config(receiver, **{"notify.telegram_bot_token": "",
                                                   "notify.telegram_chat_id": "",
                                                   "notify.severities": ["critical", "warning"],
                                                   "notify.events": ["firing"]}), "prod")
    for event in ("pending", "firing", "resolved", "cancelled", "acknowledged"):
        for severity in ("critical", "warning", "info"):
            notifier.submit(transition(event, severity))
    assert notifier.flush(10)
    notifier.close()
    assert sorted((h["status"], h["alerts"][0]["labels"]["severity"])
                  for h in receiver.paths("/hook")) == [("firing", "critical"),
                                                        ("firing", "warning")]


def test_a_hung_receiver_never_blocks_submit():
    release = threading.Event()
    started = threading.Event()

    def send(url: str, body: dict, timeout_s: float) -> None:
        started.set()
        release.wait()

    config = load_config(environ={}, overrides={"notify.webhook_url": "http://127.0.0.1:9/x",
                                                "notify.rate_limit_per_minute": 10**9})
    notifier = Notifier(config, "prod", send=send)
    notifier.submit(transition())
    assert started.wait(10)  # the sender thread is stuck in the first send
    for _ in range(MAX_QUEUED + 50):  # the poll loop goes on submitting: never waits
        notifier.submit(transition())
    assert notifier.stats[("webhook", "dropped")] == 50  # the oldest waiting ones
    release.set()
    assert notifier.flush(30)
    notifier.close()
    assert notifier.stats[("webhook", "sent")] == MAX_QUEUED + 1


def test_rate_limiter_lets_a_burst_through_then_spaces_messages():
    now = [0.0]
    limiter = RateLimiter(20, clock=lambda: now[0])
    for _ in range(20):
        assert limiter.wait_s() == 0
        limiter.take()
    assert limiter.wait_s() == pytest.approx(3.0)  # 60 s / 20
    now[0] += 3.0
    assert limiter.wait_s() == 0


def test_alertmanager_payload_and_telegram_text():
    payload = alertmanager_payload(transition("resolved"), "prod")
    assert set(payload) == {"version", "groupKey", "truncatedAlerts", "status", "receiver",
                            "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                            "alerts"}
    alert = payload["alerts"][0]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt",
                          "generatorURL", "fingerprint"}
    assert (alert["status"], alert["startsAt"], alert["endsAt"]) == (
        "resolved", "2026-11-23T10:00:30Z", "2026-11-23T10:05:00Z")
    assert alert["annotations"]["runbook"] == "Set the stop-loss."
    assert payload["groupKey"] == '{}:{alertname="unprotected_positions", bot="prod"}'
    text = telegram_text(transition(), "prod")
    since = datetime.fromisoformat("2026-11-23T10:00:00+00:00").astimezone()
    assert text.splitlines()[:3] == [
        "🔴 FIRING · CRITICAL · unprotected_positions#1 · bot prod",
        "1 open position(s) without a stop-loss",
        f"since {since:%Y-%m-%d %H:%M:%S %Z}".strip()]
    assert len(telegram_text(transition(runbook="x" * 5000), "prod")) == 4096


@pytest.mark.parametrize("key,value,expected", [
    ("notify.severities", ["critcal"], "did you mean 'critical'?"),
    ("notify.events", ["fired"], "expected some of firing, resolved"),
    ("notify.webhook_url", "hooks.example.com/x", "expected an http:// or https:// URL"),
    ("notify.telegram_bot_token", TOKEN, "needs both telegram_bot_token and telegram_chat_id"),
    ("notify.rate_limit_per_minute", 0, "expected a number > 0"),
    ("metrics.port", 70000, "expected 0..65535"),
])
def test_bad_notify_and_metrics_config_is_a_clear_error(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(environ={}, overrides={key: value})
    assert expected in caught.value.line()
    assert TOKEN not in caught.value.line()
