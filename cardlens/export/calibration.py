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
