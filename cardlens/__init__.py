"""cardlens: on-device payment-card scanning (detect, read, export, benchmark). Runs offline.

Card numbers are masked (first six, last four) in every text form; see :class:`CardNumber`.
"""

from cardlens._version import __version__
from cardlens.errors import CardlensError, DependencyError, ImageError, ModelError, NotAvailableError
from cardlens.results import CardName, CardNumber, ScanResult, StageTiming

__all__ = [
    "CardName", "CardNumber", "CardScanner", "CardlensError", "DependencyError", "ImageError", "ModelError",
    "NotAvailableError", "ScanResult", "ScanSession", "SessionConfig", "StageTiming", "__version__",
]


def __getattr__(name: str):
    if name == "CardScanner":  # keeps `import cardlens` free of OpenCV until a scanner is needed
        from cardlens.scanner import CardScanner

        return CardScanner
    if name in ("ScanSession", "SessionConfig"):
        from cardlens import session

        return getattr(session, name)
    raise AttributeError(f"module 'cardlens' has no attribute {name!r}")
