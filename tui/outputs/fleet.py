"""Outputs for fleets: ``/metrics`` and notifications, attached to a monitor for one run.

Both hang off generic hooks, so the monitor knows nothing about them: the exporter takes each
view (``Monitor.view_listeners``), the notifier each alert transition
(``AlertEngine.listeners``). Issue 13's recorder attaches them the same way.
"""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

from tui import __version__
from tui.config import Config

log = logging.getLogger(__name__)
NOTIFY_DRAIN_S = 5.0  # at exit: how long queued notifications may still take


def bot_name(config: Config) -> str:
    """The ``bot`` label: metrics.bot, else the database's name, else "bot"."""
    if config.metrics.bot:
        return config.metrics.bot
    dsn_database = urlsplit(config.database.dsn).path.lstrip("/") if config.database.dsn else ""
    return (config.database.database or dsn_database or os.environ.get("PGDATABASE", "")
            or "bot")


def attach_outputs(config: Config, monitor, stack: AsyncExitStack) -> list[str]:
    """Start what the config asks for; closed by ``stack``. Returns lines to show the user.

    Raises BotmonError (exit 2) when the port cannot be bound or the extra is missing; call it
    before the run starts, so a bad port leaves no run directory behind.
    """
    bot = bot_name(config)
    lines: list[str] = []
    exporter = None
    if config.metrics.port:
        from tui.outputs.prometheus import MetricsExporter

        exporter = MetricsExporter(bot, {"version": __version__,
                                         "schema": config.database.schema})
        port = exporter.start(config.metrics.address, config.metrics.port)
        stack.callback(exporter.close)
        monitor.view_listeners.append(exporter.take)
        host = config.metrics.address
        host = f"[{host}]" if ":" in host else host
        lines.append(f"metrics: http://{host}:{port}/metrics (bot=\"{bot}\")")
    alerts = getattr(monitor, "alerts", None)
    if alerts is not None and hasattr(alerts, "listeners"):
        from tui.outputs.notify import Notifier

        notifier = Notifier(config, bot)
        if notifier.enabled:
            alerts.listeners.append(notifier.submit)
            stack.callback(notifier.close, NOTIFY_DRAIN_S)
            targets = ", ".join(s.channel.target for s in notifier.senders)
            lines.append(f"notifications: {targets} ({', '.join(config.notify.severities)} "
                         f"episodes: {', '.join(config.notify.events)})")
            if exporter is not None:
                exporter.add_source(lambda: notification_metrics(notifier, bot))
    for line in lines:
        log.info(line)
    return lines


def notification_metrics(notifier, bot: str):
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily("botmon_notifications", "notification messages by channel "
                                 "and result (sent, failed, dropped)",
                                 labels=["bot", "channel", "result"])
    for sender in notifier.senders:
        for result in ("sent", "failed", "dropped"):
            family.add_metric([bot, sender.channel.name, result],
                              notifier.stats.get((sender.channel.name, result), 0))
    yield family
