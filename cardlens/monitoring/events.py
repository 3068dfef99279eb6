"""The monitoring event model: what a scan session may tell the outside world, and nothing more.

One :class:`SessionEvent` per thing that happened in a scan session (see :data:`KINDS`). Events hold
outcomes, timings, confidences and model versions only — never a card number, never a digit of one,
never an image, never the cardholder name or the expiry value. A correction is described by the
*positions* of the digits the user changed, never by the digits.

Privacy is enforced twice:

1. at construction (:meth:`SessionEvent.__post_init__`): every field has a type, a range and, for
   strings, a strict format (a brand key is lowercase letters, a model name has no digit run…);
2. at emit time (:func:`check_event`, called by every sink and by :class:`~cardlens.session.ScanSession`):
   the event's JSON line, with the three identifiers whose format is checked exactly (the random
   ``session_id`` uuid, the ``ts`` timestamp and each model's 12-hex ``sha256`` prefix) blanked out,
   must not contain a run of 6 or more digits, even split by single spaces, dots or dashes. A violation
   raises :class:`PrivacyError`, whose message names the field but never the value.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from dataclasses import dataclass, field

SCHEMA = 1

# started → card_seen → (lost …) → result_accepted | timed_out, then what the app reports:
# cancelled, manual_entry, corrected (positions of the digits the user changed).
KINDS = ("started", "card_seen", "result_accepted", "timed_out", "cancelled", "manual_entry", "corrected",
         "lost")
FIELDS = ("number", "expiry", "name")
REASONS = ("card left the frame", "user", "app")

MAX_MS = 99_999          # time-to-scan is capped here (≈100 s) so that no number has 6 digits
MAX_COUNT = 99_999       # frames / seq
MAX_POSITION = 31

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_SHA = re.compile(r"^(?:[0-9a-f]{12})?$")
_BRAND = re.compile(r"^[a-z]{1,24}$")
_LABEL = re.compile(r"^[A-Za-z0-9._+\-\[\]@]{1,64}$")
# 6+ digits, each pair possibly split by one space, dot or dash (a PAN fragment as printed or logged)
DIGIT_RUN = re.compile(r"[0-9](?:[ .\-]?[0-9]){5,}")


class PrivacyError(ValueError):
    """An event that would carry a digit run or an unchecked value. The message never holds the value."""


def utc_now() -> str:
    """Wall-clock time as ``2025-01-31T12:34:56.789Z`` (milliseconds: no 6-digit run)."""
    return format_ts(_dt.datetime.now(_dt.UTC))


def format_ts(when: _dt.datetime) -> str:
    when = when.astimezone(_dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> _dt.datetime:
    return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.UTC)


def new_session_id() -> str:
    """A random uuid4: never derived from the card or the frames."""
    return str(uuid.uuid4())


def _check(ok: bool, name: str, what: str) -> None:
    if not ok:
        raise PrivacyError(f"monitoring event field {name!r}: {what}")


def _int(value, name: str, lo: int, hi: int, optional: bool = True) -> None:
    if value is None and optional:
        return
    _check(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi, name,
           f"must be an integer in [{lo}, {hi}]")


@dataclass(frozen=True)
class ModelVersion:
    """One model the session scanned with: spec name, version and the first 12 hex of its sha256."""

    name: str
    version: str
    sha256: str = ""

    def __post_init__(self):
        for key in ("name", "version"):
            value = getattr(self, key)
            _check(isinstance(value, str) and bool(_LABEL.match(value)) and not DIGIT_RUN.search(value),
                   f"models.{key}", "must be 1-64 characters of [A-Za-z0-9._+-[]@] without a digit run")
        _check(isinstance(self.sha256, str) and bool(_SHA.match(self.sha256)), "models.sha256",
               "must be empty or 12 lowercase hex characters")

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" + (f"#{self.sha256[:8]}" if self.sha256 else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_spec(cls, spec) -> ModelVersion:
        """From a :class:`~cardlens.modelspec.ModelSpec` (or anything with name, sha256, extra, cardlens_version)."""
        extra = getattr(spec, "extra", None) or {}
        version = extra.get("version") or extra.get("registry_version") or getattr(spec, "cardlens_version", "")
        return cls(_sanitize(str(spec.name)), _sanitize(str(version) or "unknown"),
                   str(getattr(spec, "sha256", "") or "")[:12].lower())


def _sanitize(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._+\-\[\]@]", "-", text)[:64] or "unknown"
    return DIGIT_RUN.sub("#", text)


@dataclass(frozen=True)
class FieldConfidence:
    """The accepted reading's confidence per field (None: field not read)."""

    number: float | None = None
    expiry: float | None = None
    name: float | None = None

    def __post_init__(self):
        for key in FIELDS:
            value = getattr(self, key)
            if value is not None:
                _check(isinstance(value, float) and 0.0 <= value <= 1.0, f"confidence.{key}",
                       "must be a float in [0, 1]")
                object.__setattr__(self, key, round(value, 3))

    @classmethod
    def of(cls, number=None, expiry=None, name=None) -> FieldConfidence:
        def conf(x):
            return None if x is None else min(1.0, max(0.0, float(getattr(x, "confidence", x))))
        return cls(conf(number), conf(expiry), conf(name))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}


@dataclass(frozen=True)
class SessionEvent:
    """One thing that happened in one scan session. Frozen, validated, and free of card data."""

    kind: str
    session_id: str
    seq: int                                    # order within the session, from 0
    ts: str = field(default_factory=utc_now)    # UTC, milliseconds
    models: tuple[ModelVersion, ...] = ()
    time_to_scan_ms: int | None = None          # first card frame → accepted (result_accepted only)
    frames: int | None = None                   # frames fed to the session so far
    confidence: FieldConfidence | None = None   # result_accepted only
    brand: str | None = None                    # brand key of the accepted number ("visa"…)
    pan_length: int | None = None
    corrected_fields: tuple[str, ...] = ()      # corrected only: which fields the user changed
    corrected_positions: tuple[int, ...] = ()   # 0-based digit positions in the accepted number
    digits_changed: int | None = None
    length_delta: int | None = None             # typed length − accepted length
    reason: str | None = None
    schema: int = SCHEMA

    def __post_init__(self):
        _check(self.kind in KINDS, "kind", f"must be one of {', '.join(KINDS)}")
        _check(isinstance(self.session_id, str) and bool(_UUID4.match(self.session_id)), "session_id",
               "must be a random uuid4")
        _check(isinstance(self.ts, str) and bool(_TS.match(self.ts)), "ts", "must be YYYY-MM-DDTHH:MM:SS.mmmZ")
        _int(self.seq, "seq", 0, MAX_COUNT, optional=False)
        _int(self.schema, "schema", SCHEMA, SCHEMA, optional=False)
        _int(self.time_to_scan_ms, "time_to_scan_ms", 0, MAX_MS)
        _int(self.frames, "frames", 0, MAX_COUNT)
        _int(self.pan_length, "pan_length", 0, MAX_POSITION + 1)
        _int(self.digits_changed, "digits_changed", 0, MAX_POSITION + 1)
        _int(self.length_delta, "length_delta", -MAX_POSITION - 1, MAX_POSITION + 1)
        _check(isinstance(self.models, tuple) and all(isinstance(m, ModelVersion) for m in self.models),
               "models", "must be a tuple of ModelVersion")
        _check(self.confidence is None or isinstance(self.confidence, FieldConfidence), "confidence",
               "must be a FieldConfidence")
        _check(self.brand is None or (isinstance(self.brand, str) and bool(_BRAND.match(self.brand))), "brand",
               "must be a brand key (lowercase letters)")
        _check(isinstance(self.corrected_fields, tuple) and all(f in FIELDS for f in self.corrected_fields),
               "corrected_fields", f"must name fields among {', '.join(FIELDS)}")
        _check(isinstance(self.corrected_positions, tuple) and len(self.corrected_positions) <= MAX_POSITION + 1,
               "corrected_positions", "must be a tuple of positions")
        for p in self.corrected_positions:
            _int(p, "corrected_positions", 0, MAX_POSITION, optional=False)
        _check(self.reason is None or self.reason in REASONS, "reason", f"must be one of {', '.join(REASONS)}")

    @property
    def model_label(self) -> str:
        """The model versions as one key (how the report groups sessions)."""
        return " + ".join(m.label for m in self.models) or "unknown"

    def to_dict(self) -> dict:
        d = {"schema": self.schema, "kind": self.kind, "session_id": self.session_id, "seq": self.seq,
             "ts": self.ts, "models": [m.to_dict() for m in self.models]}
        for key in ("time_to_scan_ms", "frames", "brand", "pan_length", "digits_changed", "length_delta", "reason"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.confidence is not None:
            d["confidence"] = self.confidence.to_dict()
        if self.corrected_fields:
            d["corrected_fields"] = list(self.corrected_fields)
        if self.corrected_positions:
            d["corrected_positions"] = list(self.corrected_positions)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> SessionEvent:
        """Parse one JSON object; raises :class:`PrivacyError` (a ValueError) on anything malformed.

        Unknown keys are ignored (a newer writer may add some); the schema version must match."""
        _check(isinstance(data, dict), "event", "must be a JSON object")
        _check(data.get("schema") == SCHEMA, "schema", f"must be {SCHEMA}")
        try:
            models = tuple(ModelVersion(**m) for m in data.get("models") or ())
            conf = data.get("confidence")
            conf = None if conf is None else FieldConfidence(**{k: (None if conf.get(k) is None else float(conf[k]))
                                                                 for k in FIELDS})
        except (TypeError, AttributeError, ValueError) as exc:
            raise PrivacyError(f"monitoring event: malformed models or confidence ({type(exc).__name__})") from None
        keys = ("kind", "session_id", "seq", "ts", "time_to_scan_ms", "frames", "brand", "pan_length",
                "digits_changed", "length_delta", "reason")
        missing = [k for k in ("kind", "session_id", "seq", "ts") if k not in data]
        _check(not missing, "event", f"missing {', '.join(missing)}")
        return cls(**{k: data[k] for k in keys if k in data}, models=models, confidence=conf,
                   corrected_fields=tuple(data.get("corrected_fields") or ()),
                   corrected_positions=tuple(data.get("corrected_positions") or ()))


def check_event(event: SessionEvent) -> str:
    """The event's JSON line, after the emit-time privacy check (raises :class:`PrivacyError`)."""
    if not isinstance(event, SessionEvent):
        raise PrivacyError("monitoring sinks accept SessionEvent objects only")
    SessionEvent.__post_init__(event)  # re-validate: a frozen dataclass can still be forced
    for m in event.models:
        ModelVersion.__post_init__(m)
    if event.confidence is not None:
        FieldConfidence.__post_init__(event.confidence)
    line = event.to_json()
    d = event.to_dict()
    d["session_id"], d["ts"] = "", ""
    for m in d["models"]:
        m["sha256"] = ""
    if DIGIT_RUN.search(json.dumps(d, sort_keys=True)):
        raise PrivacyError("monitoring event holds a run of 6 or more digits: dropped")
    return line
