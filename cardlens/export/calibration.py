"""Real network inputs from the synthetic data engine, through the runtime's own pre-processing.

Used to calibrate int8 models and to validate every exported artifact against the torch reference.
Calibration and validation use different seeds so a model is never checked on what calibrated it.
"""

from __future__ import annotations

import numpy as np

from cardlens.export.sources import Source

CALIBRATION_SEED = 7101
VALIDATION_SEED = 7202


def _yolo_tensor(image_rgb: np.ndarray, source: Source) -> np.ndarray:
    from cardlens.detector.preprocess import spec_input

    return spec_input(np.ascontiguousarray(image_rgb[:, :, ::-1]), source.spec)[0]


def _card_sized_quad(seed: int, index: int, imgsz: int) -> np.ndarray:
    """Corners (design order) of a card-sized, turned quad somewhere in an ``imgsz`` image."""
    from cardlens.synth.seeding import sample_rngs

    rng = sample_rngs(seed, index, "verifier-quad")[0]
    w = rng.uniform(0.3, 0.8) * imgsz
    h = w / 1.586
    a = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot
    return pts + rng.uniform(0.3, 0.7, 2) * imgsz


def _verifier_tensor(seed: int, index: int) -> np.ndarray:
    """The crop the verifier sees (its own pre-processing) at a scene's true card corners, or — one scene
    in three, which holds no card — at a card-sized quad over its background and paper distractors."""
    from cardlens.detector.verifier import centre, verifier_crop, verifier_input
    from cardlens.synth.scene import render_scene

    negative = index % 3 == 2
    scene = render_scene(seed, index, 416, negative=negative, steep_share=0.0)
    corners = _card_sized_quad(seed, index, 416) if negative else scene.corners
    bgr = np.ascontiguousarray(scene.image[:, :, ::-1])  # scenes are RGB; the verifier crops BGR frames
    return verifier_input([centre(verifier_crop(bgr, corners))])


def network_inputs(source: Source, n: int, seed: int) -> list[np.ndarray]:
    """``n`` input tensors (each ``source.input_shape()``) for one model of the pipeline."""
    from cardlens.synth.seeding import sample_rngs
    from cardlens.synth.writers import line_crops, rectified_card

    out: list[np.ndarray] = []
    i = 0
    while len(out) < n:
        if source.role == "detector":
            from cardlens.synth.scene import render_scene

            # steep_share=0: the export's calibration and validation scenes stay those of every earlier export
            scene = render_scene(seed, i, 416, negative=(i % 8 == 7), steep_share=0.0)
            out.append(_yolo_tensor(scene.image, source))
        elif source.role == "verifier":
            out.append(_verifier_tensor(seed, i))
        elif source.role == "fields":
            out.append(_yolo_tensor(rectified_card(seed, i).image, source))
        else:
            from cardlens.ocr.line_preprocess import line_tensor

            rc = rectified_card(seed, i)
            h, w = source.spec.input_size
            for _kind, _text, crop, _ in line_crops(rc, sample_rngs(seed, i, "lines")[0]):
                out.append(line_tensor(crop, h, w, color="rgb")[0])
        i += 1
    return [x.astype(np.float32) for x in out[:n]]
