"""Card OCR: field assembly under card rules and text engines (EasyOCR today; our own with #5)."""

from cardlens.ocr.fields import CardFields, TextBox, assemble_fields

__all__ = ["CardFields", "TextBox", "assemble_fields"]
