"""Training wrappers shared by the models: ultralytics YOLO (detector, field locator) and our recognizer."""
