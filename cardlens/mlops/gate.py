"""The promotion gate: may a candidate pipeline replace the production one?

A pure function of metric dicts (no I/O), so it is deterministic and unit-testable. Metric dicts are
flat: ``"<dataset>.<metric>"`` with dataset ``synthetic`` (our held-out synthetic sets) or
``realcards`` (realcards-dev) and metric ``pan_exact`` (validated PAN read exactly and accepted),
``false_accept_rate`` (an accepted number that is not the printed one) or ``detector_recall`` (card
found at IoU ≥ 0.5). ``None`` means "not measured".

The candidate is refused when, on any dataset both sides measured:

- against **production** (the models with the ``production`` alias, or the shipped models): PAN exact
  match or detector recall drops by more than its tolerance, or the false-accept rate rises by more
  than its tolerance;
- against the **EasyOCR baseline**: a metric listed in ``easyocr_enforce`` is worse beyond its
  tolerance (the others are reported as advisory: see ``GatePolicy``);
- against the **device budgets** (the bench summary): a device class's verdict is ``fail`` (or
  ``uncertain`` when ``uncertain_budget == "refuse"``) where production's is not — a class production
  fails as well is reported, not enforced, unless it is listed in ``device_classes`` (the hard
  targets); the pipeline grows by more than ``max_size_growth`` over production; the optional size /
  p90 caps are exceeded; or there are no bench figures at all while ``require_bench`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

EPS = 1e-9
DATASETS = ("synthetic", "realcards")


@dataclass(frozen=True)
class Rule:
    metric: str
    higher_is_better: bool
    tolerance: float          # absolute, in the metric's units (rates 0..1)


DEFAULT_RULES = (
    Rule("pan_exact", True, 0.02),
    Rule("detector_recall", True, 0.02),
    Rule("false_accept_rate", False, 0.005),
)


@dataclass(frozen=True)
class GatePolicy:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    datasets: tuple[str, ...] = DATASETS
    # Against EasyOCR only these metrics refuse; the rest are advisory. The shipped production models
    # trail EasyOCR on realcards-dev PAN exact (0 of 6 Luhn-valid labels vs 2–3 of 6), so enforcing it
    # would refuse production itself; the false-accept rate is a safety floor we do enforce.
    easyocr_enforce: tuple[str, ...] = ("false_accept_rate",)
    require_bench: bool = True
    uncertain_budget: str = "advisory"          # "advisory" | "refuse"
    max_pipeline_size_bytes: int | None = None
    max_pipeline_p90_ms: float | None = None
    device_classes: tuple[str, ...] | None = None   # enforced even where production fails them
    max_size_growth: float | None = 0.10            # relative to production's bench size

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> GatePolicy:
        cfg = dict(cfg or {})
        tolerances = {**{r.metric: r.tolerance for r in DEFAULT_RULES}, **(cfg.get("tolerances") or {})}
        unknown = set(tolerances) - {r.metric for r in DEFAULT_RULES}
        if unknown:
            from cardlens.errors import UsageError

            raise UsageError(f"gate.tolerances: unknown metric(s) {sorted(unknown)}; "
                             f"known: {[r.metric for r in DEFAULT_RULES]}")
        rules = tuple(Rule(r.metric, r.higher_is_better, float(tolerances[r.metric])) for r in DEFAULT_RULES)
        uncertain = cfg.get("uncertain_budget", "advisory")
        if uncertain not in ("advisory", "refuse"):
            from cardlens.errors import UsageError

            raise UsageError("gate.uncertain_budget must be 'advisory' or 'refuse'")
        return cls(rules=rules, datasets=tuple(cfg.get("datasets", DATASETS)),
                   easyocr_enforce=tuple(cfg.get("easyocr_enforce", ("false_accept_rate",))),
                   require_bench=bool(cfg.get("require_bench", True)), uncertain_budget=uncertain,
                   max_pipeline_size_bytes=cfg.get("max_pipeline_size_bytes"),
                   max_pipeline_p90_ms=cfg.get("max_pipeline_p90_ms"),
                   device_classes=tuple(cfg["device_classes"]) if cfg.get("device_classes") else None,
                   max_size_growth=cfg.get("max_size_growth", 0.10))


@dataclass(frozen=True)
class Check:
    name: str
    status: str               # "pass" | "fail" | "advisory" | "skipped"
    message: str
    candidate: float | None = None
    reference: float | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: tuple[str, ...]              # why it was refused (empty when promoted)
    checks: tuple[Check, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "reasons": list(self.reasons), "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        if self.promote:
            passed = sum(c.status == "pass" for c in self.checks)
            return f"promotion gate: PASSED ({passed} checks passed)"
        return "promotion gate: REFUSED — " + "; ".join(self.reasons)

    def to_markdown(self) -> str:
        lines = [f"# Promotion gate: {'passed' if self.promote else 'REFUSED'}", ""]
        if self.reasons:
            lines += ["Refused because:", ""] + [f"- {r}" for r in self.reasons] + [""]
        lines += ["| check | status | detail |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.status} | {c.message} |" for c in self.checks]
        return "\n".join(lines) + "\n"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _compare(dataset: str, rule: Rule, cand: float | None, ref: float | None, against: str,
             enforce: bool) -> Check:
    name = f"{dataset}.{rule.metric} vs {against}"
    if cand is None or ref is None:
        missing = "candidate" if cand is None else against
        return Check(name, "skipped", f"not measured for the {missing}", cand, ref, rule.tolerance)
    if rule.higher_is_better:
        ok = cand >= ref - rule.tolerance - EPS
        verb = "dropped"
        delta = ref - cand
    else:
        ok = cand <= ref + rule.tolerance + EPS
        verb = "rose"
        delta = cand - ref
    detail = f"candidate {_fmt(cand)} vs {against} {_fmt(ref)} (tolerance {rule.tolerance:g})"
    if ok:
        return Check(name, "pass", detail, cand, ref, rule.tolerance)
    msg = (f"{dataset} {rule.metric.replace('_', ' ')} {verb} {delta:.4f} "
           f"{'below' if rule.higher_is_better else 'above'} {against} "
           f"({_fmt(ref)} → {_fmt(cand)}; tolerance {rule.tolerance:g})")
    return Check(name, "fail" if enforce else "advisory", msg, cand, ref, rule.tolerance)


def _budget_checks(bench: Mapping | None, policy: GatePolicy, production_bench: Mapping | None) -> list[Check]:
    if bench is None:
        status = "fail" if policy.require_bench else "skipped"
        return [Check("device budgets", status, "no bench figures: size and latency were not checked "
                                               "against the device budgets")]
    out = []
    verdicts = dict(bench.get("budget_verdicts") or {})
    p90, size = bench.get("pipeline_p90_ms"), bench.get("pipeline_size_bytes")
    where = (f"pipeline p90 {p90:.1f} ms" if isinstance(p90, int | float) else "pipeline p90 n/a") + \
            (f", size {size / 1e6:.2f} MB" if isinstance(size, int | float) else "")
    if not verdicts:
        status = "fail" if policy.require_bench else "skipped"
        out.append(Check("device budgets", status, f"the bench gave no budget verdicts ({where})"))
    prod_verdicts = dict((production_bench or {}).get("budget_verdicts") or {})
    for device in policy.device_classes or ():
        if device not in verdicts:
            out.append(Check(f"budget {device}", "fail", f"device class '{device}' has no bench verdict"))
    for device, verdict in sorted(verdicts.items()):
        hard = device in (policy.device_classes or ())
        if verdict == "pass":
            out.append(Check(f"budget {device}", "pass", f"within budget ({where})"))
            continue
        status = "fail" if verdict != "uncertain" or policy.uncertain_budget == "refuse" else "advisory"
        msg = f"device budget '{device}' {verdict} ({where})"
        if status == "fail" and not hard and prod_verdicts.get(device) == verdict:
            status, msg = "advisory", msg + f"; production is '{verdict}' there too"
        out.append(Check(f"budget {device}", status, msg))
    prod_size = (production_bench or {}).get("pipeline_size_bytes")
    if policy.max_size_growth is not None and isinstance(size, int | float) and isinstance(prod_size, int | float):
        limit = prod_size * (1 + policy.max_size_growth)
        ok = size <= limit
        out.append(Check("size vs production", "pass" if ok else "fail",
                         f"pipeline size {size / 1e6:.2f} MB vs production {prod_size / 1e6:.2f} MB "
                         f"(allowed growth {policy.max_size_growth:.0%})", size, prod_size, policy.max_size_growth))
    if policy.max_pipeline_size_bytes is not None:
        if size is None:
            out.append(Check("size cap", "fail" if policy.require_bench else "skipped", "pipeline size not measured"))
        else:
            ok = size <= policy.max_pipeline_size_bytes
            out.append(Check("size cap", "pass" if ok else "fail",
                             f"pipeline size {size / 1e6:.2f} MB vs cap {policy.max_pipeline_size_bytes / 1e6:.2f} MB",
                             size, policy.max_pipeline_size_bytes))
    if policy.max_pipeline_p90_ms is not None:
        if p90 is None:
            out.append(Check("latency cap", "fail" if policy.require_bench else "skipped", "pipeline p90 not measured"))
        else:
            ok = p90 <= policy.max_pipeline_p90_ms
            out.append(Check("latency cap", "pass" if ok else "fail",
                             f"pipeline p90 {p90:.1f} ms vs cap {policy.max_pipeline_p90_ms:.1f} ms",
                             p90, policy.max_pipeline_p90_ms))
    return out


def promotion_gate(candidate: Mapping[str, float | None], production: Mapping[str, float | None] | None,
                   easyocr: Mapping[str, float | None] | None, bench: Mapping | None,
                   policy: GatePolicy = GatePolicy(), production_bench: Mapping | None = None) -> GateDecision:
    """Decide whether ``candidate`` may be promoted. See the module docstring for the rules."""
    checks: list[Check] = []
    compared_with_production = 0
    for dataset in policy.datasets:
        for rule in policy.rules:
            key = f"{dataset}.{rule.metric}"
            if production is not None:
                c = _compare(dataset, rule, candidate.get(key), production.get(key), "production", True)
                compared_with_production += c.status != "skipped"
                checks.append(c)
            if easyocr is not None and rule.metric != "detector_recall":  # EasyOCR has no detector
                checks.append(_compare(dataset, rule, candidate.get(key), easyocr.get(key), "EasyOCR",
                                       rule.metric in policy.easyocr_enforce))
    if production is not None and compared_with_production == 0:
        checks.append(Check("production comparison", "fail",
                            "no figure could be compared with production (nothing measured on a shared dataset)"))
    checks += _budget_checks(bench, policy, production_bench)
    reasons = tuple(c.message for c in checks if c.status == "fail")
    return GateDecision(not reasons, reasons, tuple(checks))


def recorded_shipped_metrics(models_dir) -> tuple[dict, dict]:
    """(production, EasyOCR) gate metrics recorded in the shipped models' ``model_card.json``.

    Used when no production version is registered and the production models are not measured again.
    EasyOCR figures are realcards-dev only (the full-image baseline: EasyOCR + a Luhn regex)."""
    import json
    from pathlib import Path

    root = Path(models_dir)

    def card(name: str) -> dict:
        p = root / name / "model_card.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    det, rec = card("card-detector"), card("text-recognizer")
    pipe = rec.get("pipeline", {})
    syn = pipe.get("synthetic_scans_s51_n400", {})
    real = pipe.get("realcards_dev", {})
    # production runs the detector with its card verifier: the pair's recall where the verifier's card
    # records it (s31 val, the detector card's synthetic_val set), else the detector's own
    pair = (card("card-verifier").get("metrics") or {}).get("detector_with_verifier") or {}
    production = {
        "synthetic.pan_exact": syn.get("pan_exact"),
        "synthetic.false_accept_rate": syn.get("false_accept_rate"),
        "synthetic.detector_recall": (pair.get("synthetic_val_s31") or {}).get("recall_iou50",
                                                                               (det.get("synthetic_val") or {}).get("recall_iou50")),
        "realcards.pan_exact": real.get("pan_exact"),
        "realcards.false_accept_rate": real.get("false_accept_rate"),
        "realcards.detector_recall": pair.get("realcards_found_iou50", (det.get("realcards") or {}).get("found_iou50")),
    }
    easy = pipe.get("realcards_dev_easyocr") or []
    full = easy[1] if len(easy) > 1 else {}   # [0]: EasyOCR on the rectified card, [1]: full image + Luhn regex
    easyocr = {"realcards.pan_exact": full.get("pan_exact"),
               "realcards.false_accept_rate": full.get("false_accept_rate")} if full else None
    return production, easyocr
