"""binmon: a terminal monitor for Binance USD-M futures market metadata streams."""

__version__ = "0.1.0"
