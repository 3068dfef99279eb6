"""Privacy-safe scan-session monitoring: outcome events, sinks, and the ``cardlens report sessions`` summary.

``ScanSession(scanner, sink=JsonlSink("events.jsonl"))`` writes one line per event; the app reports
user outcomes with ``session.cancel()``, ``session.manual_entry()`` and ``session.user_corrected(...)``.
See :mod:`cardlens.monitoring.events` for what an event may hold (never a card number, digit, image,
name or expiry value) and :mod:`cardlens.monitoring.report` for the online metric.
"""

from cardlens.monitoring.events import (
    KINDS,
    FieldConfidence,
    ModelVersion,
    PrivacyError,
    SessionEvent,
    check_event,
)
from cardlens.monitoring.sinks import BaseSink, EventSink, JsonlSink, MemorySink, NullSink, emit
from cardlens.monitoring.tracker import (
    SessionMonitor,
    corrected_positions,
    model_versions,
    shipped_model_versions,
)

__all__ = [
    "KINDS", "BaseSink", "EventSink", "FieldConfidence", "JsonlSink", "MemorySink", "ModelVersion", "NullSink",
    "PrivacyError", "SessionEvent", "SessionMonitor", "check_event", "corrected_positions", "emit",
    "model_versions", "shipped_model_versions",
]
