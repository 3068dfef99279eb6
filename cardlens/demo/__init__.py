"""Desktop webcam demo for QA (lands with #8)."""
