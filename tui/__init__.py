"""botmon: a terminal monitor for a trading bot's audit run."""

__version__ = "0.1.0"
