"""The pipeline's models as export sources: their specs and torch modules that emit the raw contract.

Every exported artifact computes the same raw tensor as the shipped ONNX model (the contract that
cardlens' numpy post-processing reads): YOLO heads in export mode with the one-to-many output in
input pixels, the recognizer's CTC logits and the card verifier's logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cardlens.logs import get_logger
from cardlens.modelspec import ModelSpec

log = get_logger(__name__)

MODELS = Path(__file__).resolve().parent.parent / "models"
ROLES = {"detector": "card-detector", "fields": "field-locator", "recognizer": "text-recognizer",
         "verifier": "card-verifier"}


@dataclass(frozen=True)
class Source:
    role: str                  # "detector" | "fields" | "recognizer" | "verifier"
    folder: Path
    spec: ModelSpec            # the shipped spec (weights = the fp32 ONNX)

    @property
    def torch_weights(self) -> Path:
        return self.folder / self.spec.extra["torch_weights"]

    def input_shape(self) -> tuple[int, ...]:
        h, w = self.spec.input_size
        return (1, 1 if self.spec.color == "GRAY" else 3, h, w)


def pipeline_sources(models_dir: Path | None = None) -> list[Source]:
    """The four models of ``models_dir`` (default: the shipped ones), each from its folder there.

    A models folder made before the card verifier was versioned (an older pipeline package or
    registry export) has no ``card-verifier``: the shipped verifier, which those models always ran
    with, stands in, and a warning says so. The other three are required."""
    root = Path(models_dir) if models_dir else MODELS
    out = []
    for role, name in ROLES.items():
        folder = root / name
        if role == "verifier" and not (folder / "spec.json").is_file() and folder != MODELS / name:
            log.warning("%s has no %s/spec.json (made before the card verifier was versioned): the bundle "
                        "takes the shipped card verifier, %s", root, name, MODELS / name)
            folder = MODELS / name
        out.append(Source(role, folder, ModelSpec.load(folder / "spec.json")))
    return out


def torch_module(source: Source):
    """An ``nn.Module`` in eval mode whose output equals the shipped ONNX model's raw tensor."""
    from cardlens.errors import require

    torch = require("torch", "export")
    if source.role == "recognizer":
        from cardlens.ocr.recognizer_net import LineRecognizer

        state = torch.load(source.torch_weights, map_location="cpu", weights_only=True)
        model = LineRecognizer(width=float(state["width"]))
        model.load_state_dict(state["state_dict"])
        return model.eval()
    if source.role == "verifier":
        from cardlens.detector.verifier import load_torch_net

        return load_torch_net(source.torch_weights)
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.modules import Detect
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(str(source.torch_weights), device="cpu", fuse=False)
    model = model.float().eval()
    if hasattr(model, "end2end"):
        model.end2end = False  # the one-to-many head: raw anchors, NMS in our numpy post-processing
    model = model.fuse()
    for m in model.modules():
        if isinstance(m, Detect):
            m.dynamic, m.export, m.format, m.shape = False, True, "onnx", None
            m.xyxy = False

    class Raw(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            out = self.inner(x)
            return out[0] if isinstance(out, (list, tuple)) else out

    return Raw(model).eval()
