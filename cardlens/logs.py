"""Logging set-up: every cardlens log record passes through the PAN-redacting filter."""

from __future__ import annotations

import logging

from cardlens.cardrules.masking import PanRedactingFilter

LOGGER_NAME = "cardlens"


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    """A cardlens logger whose records are redacted (logger filters do not propagate to children)."""
    logger = logging.getLogger(name)
    _ensure_filter(logger)
    return logger


def _ensure_filter(obj: logging.Filterer) -> None:
    if not any(isinstance(f, PanRedactingFilter) for f in obj.filters):
        obj.addFilter(PanRedactingFilter())


def configure_logging(level: int = logging.WARNING) -> logging.Logger:
    """Attach one stderr handler to the ``cardlens`` logger (idempotent) with PAN redaction."""
    logger = get_logger()
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if getattr(h, "_cardlens", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._cardlens = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    _ensure_filter(handler)
    return logger


