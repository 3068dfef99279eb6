"""The promotion gate as a pure function: worse candidates are refused with the reason, better pass."""

import pytest

from cardlens.errors import UsageError
from cardlens.export.sources import MODELS
from cardlens.mlops.gate import GatePolicy, promotion_gate, recorded_shipped_metrics

PRODUCTION = {
    "synthetic.pan_exact": 0.58, "synthetic.false_accept_rate": 0.0, "synthetic.detector_recall": 0.979,
    "realcards.pan_exact": 0.0, "realcards.false_accept_rate": 0.0, "realcards.detector_recall": 0.756,
}
EASYOCR = {"realcards.pan_exact": 0.5, "realcards.false_accept_rate": 0.0}
BENCH = {"pipeline_p90_ms": 60.0, "pipeline_size_bytes": 7_000_000, "pan_exact": 0.5,
         "budget_verdicts": {"flagship-android": "pass", "mid-range-android": "pass"}}


def test_worse_candidate_is_refused_with_every_reason():
    worse = {**PRODUCTION, "synthetic.pan_exact": 0.50, "synthetic.false_accept_rate": 0.02,
             "realcards.detector_recall": 0.70}
    d = promotion_gate(worse, PRODUCTION, EASYOCR, BENCH)
    assert not d.promote
    assert len(d.reasons) == 3
    text = "\n".join(d.reasons)
    assert "synthetic pan exact dropped 0.0800 below production (0.5800 → 0.5000; tolerance 0.02)" in text
    assert "synthetic false accept rate rose 0.0200 above production (0.0000 → 0.0200; tolerance 0.005)" in text
    assert "realcards detector recall dropped 0.0560 below production" in text
    assert d.summary().startswith("promotion gate: REFUSED — ")
    assert "Refused because" in d.to_markdown()


def test_better_candidate_passes_and_ties_within_tolerance_pass():
    better = {**PRODUCTION, "synthetic.pan_exact": 0.70, "synthetic.detector_recall": 0.99}
    d = promotion_gate(better, PRODUCTION, EASYOCR, BENCH)
    assert d.promote and d.reasons == ()
    assert d.summary().startswith("promotion gate: PASSED")
    # exactly at the tolerance passes; a hair beyond fails
    edge = {**PRODUCTION, "synthetic.pan_exact": 0.56}
    assert promotion_gate(edge, PRODUCTION, EASYOCR, BENCH).promote
    beyond = {**PRODUCTION, "synthetic.pan_exact": 0.5599}
    assert not promotion_gate(beyond, PRODUCTION, EASYOCR, BENCH).promote


def test_tolerances_come_from_the_policy():
    cand = {**PRODUCTION, "synthetic.pan_exact": 0.50}
    loose = GatePolicy.from_config({"tolerances": {"pan_exact": 0.1}})
    assert promotion_gate(cand, PRODUCTION, None, BENCH, loose).promote
    with pytest.raises(UsageError, match="unknown metric"):
        GatePolicy.from_config({"tolerances": {"accuracy": 0.1}})
    with pytest.raises(UsageError, match="uncertain_budget"):
        GatePolicy.from_config({"uncertain_budget": "maybe"})


def test_easyocr_pan_exact_is_advisory_but_false_accepts_are_enforced():
    # production itself trails EasyOCR on realcards PAN exact: reported, not refused
    d = promotion_gate(PRODUCTION, PRODUCTION, EASYOCR, BENCH)
    assert d.promote
    advisory = [c for c in d.checks if c.status == "advisory"]
    assert [c.name for c in advisory] == ["realcards.pan_exact vs EasyOCR"]
    risky = {**PRODUCTION, "realcards.false_accept_rate": 0.04}
    d = promotion_gate(risky, {**PRODUCTION, "realcards.false_accept_rate": 0.04}, EASYOCR, BENCH)
    assert not d.promote
    assert d.reasons == ("realcards false accept rate rose 0.0400 above EasyOCR (0.0000 → 0.0400; tolerance 0.005)",)
    strict = GatePolicy.from_config({"easyocr_enforce": ["false_accept_rate", "pan_exact"]})
    assert not promotion_gate(PRODUCTION, PRODUCTION, EASYOCR, BENCH, strict).promote


def test_budgets_size_and_latency():
    over = {**BENCH, "budget_verdicts": {"flagship-android": "pass", "low-end-android": "fail"}}
    d = promotion_gate(PRODUCTION, PRODUCTION, None, over)
    assert not d.promote and d.reasons == ("device budget 'low-end-android' fail (pipeline p90 60.0 ms, size 7.00 MB)",)
    # a class production misses as well is not held against the candidate… unless it is a hard target
    prod_bench = {**over, "pipeline_size_bytes": 6_900_000}
    assert promotion_gate(PRODUCTION, PRODUCTION, None, over, production_bench=prod_bench).promote
    hard = GatePolicy.from_config({"device_classes": ["low-end-android"]})
    assert not promotion_gate(PRODUCTION, PRODUCTION, None, over, hard, production_bench=prod_bench).promote
    unsure = {**BENCH, "budget_verdicts": {"raspberry-pi-4": "uncertain"}}
    assert promotion_gate(PRODUCTION, PRODUCTION, None, unsure).promote
    assert not promotion_gate(PRODUCTION, PRODUCTION, None, unsure,
                              GatePolicy.from_config({"uncertain_budget": "refuse"})).promote
    # growth over production's size, and explicit caps
    grown = promotion_gate(PRODUCTION, PRODUCTION, None, BENCH, production_bench={**BENCH, "pipeline_size_bytes": 5_000_000})
    assert not grown.promote and "allowed growth 10%" in grown.reasons[0]
    caps = GatePolicy.from_config({"max_pipeline_size_bytes": 6_000_000, "max_pipeline_p90_ms": 50})
    d = promotion_gate(PRODUCTION, PRODUCTION, None, BENCH, caps)
    assert len(d.reasons) == 2 and "7.00 MB vs cap 6.00 MB" in d.reasons[0] and "60.0 ms vs cap 50.0 ms" in d.reasons[1]


def test_missing_figures():
    d = promotion_gate(PRODUCTION, PRODUCTION, None, None)
    assert not d.promote and "no bench figures" in d.reasons[0]
    assert promotion_gate(PRODUCTION, PRODUCTION, None, None, GatePolicy(require_bench=False)).promote
    # realcards-dev absent for the candidate: those comparisons are skipped, not failed
    synthetic_only = {k: (v if k.startswith("synthetic") else None) for k, v in PRODUCTION.items()}
    d = promotion_gate(synthetic_only, PRODUCTION, EASYOCR, BENCH)
    assert d.promote and any(c.status == "skipped" and c.name.startswith("realcards") for c in d.checks)
    # nothing at all in common with production: refused
    d = promotion_gate({}, PRODUCTION, None, BENCH)
    assert not d.promote and "no figure could be compared with production" in d.reasons[0]
    # no production at all (first run): only EasyOCR and the budgets decide
    assert promotion_gate(PRODUCTION, None, EASYOCR, BENCH).promote


def test_deterministic_and_serialisable():
    worse = {**PRODUCTION, "synthetic.pan_exact": 0.1}
    a = promotion_gate(worse, PRODUCTION, EASYOCR, BENCH).to_dict()
    b = promotion_gate(dict(reversed(list(worse.items()))), PRODUCTION, EASYOCR, BENCH).to_dict()
    assert a == b and a["promote"] is False and a["checks"][0]["status"] in ("pass", "fail")


def test_recorded_shipped_figures_match_the_model_cards():
    production, easyocr = recorded_shipped_metrics(MODELS)
    # consensus edge fitting + numbers shorter than their prefix never accepted (2026-12-02 night; 0.8259 before)
    assert production["synthetic.pan_exact"] == pytest.approx(0.808, abs=1e-4)
    # the detector with its card verifier, as production runs it (alone: 0.9823 / 0.9111)
    assert production["synthetic.detector_recall"] == pytest.approx(0.9804, abs=1e-4)
    assert production["realcards.detector_recall"] == pytest.approx(0.9333, abs=1e-4)
    assert production["realcards.false_accept_rate"] == 0.0
    assert easyocr == {"realcards.pan_exact": 0.5, "realcards.false_accept_rate": 0.0}
