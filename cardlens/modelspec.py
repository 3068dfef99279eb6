"""One typed spec per model: what it expects, what it returns, and which weights it is.

The spec travels with the model: it is written as JSON into every exported artifact (ONNX
``metadata_props``, CoreML ``user_defined_metadata``, TFLite metadata) and beside the weights
(``<weights>.spec.json``), and read back at load time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from cardlens._version import __version__
from cardlens.errors import ModelError

SPEC_FORMAT = 1
METADATA_KEY = "cardlens_spec"


@dataclass(frozen=True)
class ModelSpec:
    name: str                                  # e.g. "card-detector-t"
    task: str                                  # "card-pose" | "field-detect" | "line-ctc"
    input_size: tuple[int, int]                # (height, width) the network sees
    input_name: str = "images"
    layout: str = "NCHW"
    color: str = "RGB"
    scale: float = 1.0 / 255.0                 # pixel * scale, then (x - mean) / std per channel
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    resize: str = "letterbox"                  # "letterbox" (pad value below) | "stretch"
    pad_value: int = 114
    labels: tuple[str, ...] = ()
    keypoints: tuple[str, ...] = ()            # corner names in design order
    charset: str = ""
    output_names: tuple[str, ...] = ("output0",)
    output_format: str = ""                    # how post-processing reads the raw tensor
    thresholds: dict = field(default_factory=dict)
    weights: str = ""                          # file name, relative to the spec's folder
    sha256: str = ""
    cardlens_version: str = __version__
    spec_format: int = SPEC_FORMAT
    extra: dict = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.to_json())

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, **kwargs)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        if not isinstance(data, dict):
            raise ModelError("model spec must be a JSON object")
        if data.get("spec_format") != SPEC_FORMAT:
            raise ModelError(f"model spec format {data.get('spec_format')!r} is not supported by cardlens "
                             f"{__version__} (expects {SPEC_FORMAT}); re-export the model with this version")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"model spec has unknown keys {sorted(unknown)}: made by a newer cardlens?")
        values = dict(data)
        for key in ("input_size", "mean", "std", "labels", "keypoints", "output_names"):
            if key in values and values[key] is not None:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelError(f"model spec is incomplete: {exc}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "model spec") -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{source}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ModelError as exc:  # name the file: "format 2 is not supported" alone helps nobody
            raise ModelError(f"{source}: {exc}") from None

    def with_weights(self, path: Path) -> ModelSpec:
        return replace(self, weights=Path(path).name, sha256=sha256_of(path))

    def save(self, path: Path) -> Path:
        Path(path).write_text(self.to_json(indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        p = Path(path)
        if not p.is_file():
            raise ModelError(f"model spec not found: {p}")
        return cls.from_json(p.read_text(), source=str(p))


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, expected_sha256: str) -> None:
    """Raise :class:`ModelError` naming the file and the expected sha256 if it is missing or differs."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file missing: {p} (expected sha256 {expected_sha256})")
    got = sha256_of(p)
    if expected_sha256 and got != expected_sha256:
        raise ModelError(f"model file {p} has sha256 {got}, expected {expected_sha256}: "
                         "it is truncated, corrupt or was replaced; restore it from the repository")
