"""Card verifier: is the quadrilateral the detector found a payment card, or card-sized paper?

The detector alone boxes business cards, cheques, receipts and phones (it learned "card-sized
rectangle with text"). The verifier looks at each detection once more, cut out of the frame and
warped flat, and gives the probability that it is a payment card. With it the detector can also
take its weaker boxes (real photos score low), because the verifier removes the false ones.

Pre-processing (:func:`verifier_crop`, :func:`verifier_input`) and post-processing (a sigmoid)
are numpy + OpenCV only, shared by every runtime; the network is :mod:`cardlens.detector.verifier_net`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardlens.errors import ModelError, require
from cardlens.geometry import grow_quad
from cardlens.modelspec import ModelSpec

TASK = "card-verify"
INPUT_SIZE = (60, 96)          # (height, width) the network sees: landscape, the card's long side across
CROP_SIZE = (64, 100)          # the warped cut; training takes random 60×96 windows of it, inference the centre
CROP_MARGIN = 0.1              # share of the card's width and height added on every side (its edge and corners show)
DEFAULT_KEEP = 0.2             # probability below which a detection is dropped (spec thresholds.keep)


def verifier_crop(image_bgr: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The detection cut out with :data:`CROP_MARGIN` and warped to :data:`CROP_SIZE` (BGR uint8).

    A portrait card (first edge shorter) is turned so its long side runs across; outside the frame is black."""
    import cv2

    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    top = np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])
    side = np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])
    if side > top:
        c = np.roll(c, -1, axis=0)
    q = grow_quad(c, CROP_MARGIN).astype(np.float32)
    h, w = CROP_SIZE
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    return cv2.warpPerspective(image_bgr, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def centre(crop: np.ndarray) -> np.ndarray:
    """The :data:`INPUT_SIZE` window in the middle of a :data:`CROP_SIZE` cut."""
    dy, dx = (CROP_SIZE[0] - INPUT_SIZE[0]) // 2, (CROP_SIZE[1] - INPUT_SIZE[1]) // 2
    return crop[dy:dy + INPUT_SIZE[0], dx:dx + INPUT_SIZE[1]]


def verifier_input(windows_bgr: list[np.ndarray]) -> np.ndarray:
    """(N, 3, 60, 96) float32 RGB / 255 from BGR uint8 windows of :data:`INPUT_SIZE`."""
    x = np.stack([w[:, :, ::-1] for w in windows_bgr]).astype(np.float32) / 255.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    z = np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -60, 60)
    return 1.0 / (1.0 + np.exp(-z))


def verifier_spec(width: int = 8) -> ModelSpec:
    return ModelSpec(
        name=f"card-verifier-w{width}", task=TASK, input_size=INPUT_SIZE,
        input_name="crops", layout="NCHW", color="RGB", resize="perspective-warp",
        labels=("card",), output_names=("logit",),
        output_format=f"(N, 1) logit that the crop is a payment card; crop: the detection's corners grown by "
                      f"{CROP_MARGIN:g} of the card's width and height, warped to {CROP_SIZE[1]}×{CROP_SIZE[0]} "
                      f"(long side across), centre {INPUT_SIZE[1]}×{INPUT_SIZE[0]}",
        thresholds={"keep": DEFAULT_KEEP}, extra={"width": int(width)})


def load_torch_net(path: Path):
    torch = require("torch", "train")
    from cardlens.detector.verifier_net import CardVerifierNet

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        net = CardVerifierNet(int(state["width"]))
        net.load_state_dict(state["state_dict"])
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot load card verifier weights {path}: {exc}") from None
    return net.eval()


class CardVerifier:
    """Probability that each detection is a payment card (one network call for all of a frame's detections)."""

    def __init__(self, spec: ModelSpec, run, runtime: str):
        if spec.task != TASK:
            raise ModelError(f"{spec.name} is a {spec.task!r} model, not a card verifier")
        self.spec = spec
        self._run = run
        self.runtime = runtime

    @property
    def keep(self) -> float:
        return float(self.spec.thresholds.get("keep", DEFAULT_KEEP))

    @classmethod
    def load(cls, folder: str | Path, runtime: str = "onnx", threads: int | None = None,
             verify: bool = True) -> CardVerifier:
        from cardlens.detector.runtime import open_model_folder

        spec, run, used = open_model_folder(Path(folder), runtime, threads, verify, TASK, "card verifier")
        if used == "torch":
            torch = require("torch", "train")
            if threads:
                torch.set_num_threads(int(threads))
            net = load_torch_net(run)

            def run(x: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return net(torch.from_numpy(x)).numpy()
        return cls(spec, run, used)

    def probabilities(self, image_bgr: np.ndarray, corner_sets: list[np.ndarray]) -> np.ndarray:
        if not corner_sets:
            return np.zeros(0)
        x = verifier_input([centre(verifier_crop(image_bgr, c)) for c in corner_sets])
        # one crop per call: the exported models take batch 1 (what mobile runtimes want)
        return np.concatenate([sigmoid(self._run(x[i:i + 1])) for i in range(len(x))])
