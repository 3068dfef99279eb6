"""Export to ONNX, TFLite and CoreML bundles (lands with #6)."""
