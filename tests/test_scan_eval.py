"""``cardlens eval scan`` figures: what counts as an expiry the rules can read."""

from types import SimpleNamespace

import cv2
import numpy as np

from cardlens.scan_eval import evaluate_image, is_date, summarize, to_markdown


def test_is_date_takes_months_01_to_12_only():
    assert is_date("01/30") and is_date("12/99")
    assert not is_date("88/88") and not is_date("00/25") and not is_date("13/25")
    assert not is_date(None) and not is_date("") and not is_date("1/25") and not is_date("12/2025")


class _Reads:
    """A scanner that reads the expiry it was told for each frame, and nothing else."""

    def __init__(self, expiries, printed=None):
        self.expiries = iter(expiries)
        self.printed = iter(printed or [None] * len(expiries))

    def scan(self, _img):
        e = next(self.expiries)
        return SimpleNamespace(number=None, number_accepted=False, card_found=True, name=None,
                               expiry=e, printed_expiry=next(self.printed))


def test_expiry_figure_over_dates_leaves_specimen_expiries_out(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    labels = [{"file": "a.png", "expiry": "12/25"}, {"file": "a.png", "expiry": "88/88"},
              {"file": "a.png", "expiry": "01/30"}, {"file": "a.png", "expiry": None}]
    scanner = _Reads(["12/25", None, "07/30", "03/24"])
    outcomes = [evaluate_image(scanner, tmp_path, lab) for lab in labels]
    s = summarize(outcomes)
    assert (s["with_expiry"], s["expiry_exact"]) == (3, round(1 / 3, 4))
    assert (s["with_date_expiry"], s["expiry_exact_dates"]) == (2, 0.5)
    md = to_markdown([{"engine": "x", "data": str(tmp_path), "overall": s, "by_group": {}}])
    assert "| expiry exact (labels that are dates, month 01–12) | 0.500 |" in md


def test_a_non_date_read_as_printed_counts_as_printed_and_a_wrong_one_is_counted(tmp_path):
    from cardlens.cardrules import PrintedExpiry

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    labels = [{"file": "a.png", "expiry": "88/88"}, {"file": "a.png", "expiry": "88/88"},
              {"file": "a.png", "expiry": "12/25"}, {"file": "a.png", "expiry": None}]
    scanner = _Reads([None, None, None, "01/26"],
                     [PrintedExpiry("88/88"), PrintedExpiry("88/38"), PrintedExpiry("19/25"), None])
    s = summarize([evaluate_image(scanner, tmp_path, lab) for lab in labels])
    assert (s["expiry_exact"], s["expiry_as_printed"]) == (0.0, round(1 / 3, 4))
    assert (s["printed_expiries"], s["printed_expiries_wrong"]) == (3, 2)
