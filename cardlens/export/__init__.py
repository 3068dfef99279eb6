"""Export the whole pipeline to validated ONNX, TFLite and CoreML bundles (``cardlens export``).

Each format is one module behind the :data:`FORMATS` table with the same four functions:
``export(source, precision, dest, calibration)``, ``embed_spec``, ``read_spec`` and ``runner``.
"""

from __future__ import annotations

from cardlens.export import coreml_format, onnx_format, tflite_format

FORMATS = {"onnx": onnx_format, "tflite": tflite_format, "coreml": coreml_format}
PRECISIONS = ("fp32", "fp16", "int8")

__all__ = ["FORMATS", "PRECISIONS"]
