"""Exceptions raised at cardlens' edges. Each message says what went wrong and what to do."""

from __future__ import annotations


class CardlensError(Exception):
    """Base class for every error cardlens raises on purpose. The CLI prints these as one line."""

    exit_code = 1


class ImageError(CardlensError, ValueError):
    """An input image that cannot be read or used (missing, corrupt, wrong type or shape)."""


class ModelError(CardlensError):
    """A model file that is missing, corrupt, tampered with, or from an incompatible version."""


class DependencyError(CardlensError, ImportError):
    """An optional dependency group (train, export, ocr-baselines…) is not installed."""


class UsageError(CardlensError, ValueError):
    """Arguments that cannot work together or are out of range."""

    exit_code = 2


class NotAvailableError(CardlensError):
    """A feature whose implementation has not landed yet."""

    exit_code = 2


def require(module: str, extra: str):
    """Import an optional dependency or raise a :class:`DependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{module} is not installed; install it with: pip install 'cardlens[{extra}]' ({exc})"
        ) from None
