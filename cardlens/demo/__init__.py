"""Desktop demo for QA (``cardlens demo``): live or recorded frames → ScanSession → overlays.

Sources (:mod:`.sources`), drawing (:mod:`.overlay`), the loop with keys, recording and replay
(:mod:`.app`), and a synthetic test video (:mod:`.synthetic_video`).
"""
