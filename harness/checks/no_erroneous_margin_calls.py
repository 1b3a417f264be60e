"""no_erroneous_margin_calls: every margin call and liquidation used true, fresh prices (none
from before the last resume), recomputes at or below its threshold, and did not happen inside
a halt."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import TruePrices, halt_intervals, inside, missing, risk_of, unknown
from harness.checks.margin_oracle import unimmr
from harness.history import History

__all__ = ["no_erroneous_margin_calls"]
NAME = "no_erroneous_margin_calls"
THRESHOLD = {"margin_call": Fraction(12, 10), "liquidation": Fraction(105, 100)}


def no_erroneous_margin_calls(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "margin_calls", "liquidations", "prices", "halts"):
        return unknown(NAME, absent, audit)
    truth = TruePrices(audit["prices"])
    staleness_s = risk_of(audit)["staleness_ms"] / 1000
    halts = halt_intervals(audit)
    resumes = sorted(h.end for h in halts)
    events = [e for e in audit["margin_calls"] + audit["liquidations"] if e.get("stage") != "cancelled"]
    bad: list[Evidence] = []
    for e in events:
        t, kind = float(e["time"]), ("margin_call" if e["type"] == "margin_call" else "liquidation")
        label = f"{kind} {e.get('stage', '')} for {e['account']}".replace("  ", " ")
        if h := inside(t, halts):
            bad.append(Evidence(f"{label}: inside a halt, {t - h.start:.3f} s after it began", t, records=(e.get("seq"),)))
        last_resume = max((r for r in resumes if r <= t), default=None)
        index: dict[str, Fraction] = {}
        for p in e.get("prices", []):
            asset, used_at = p["asset"], float(p["time"])
            true = truth.at(asset, used_at)
            if true is None or Decimal(true) != Decimal(p["price"]):
                bad.append(Evidence(f"{label}: {asset} price {p['price']} ({t - used_at:.3f} s before the call) but the true price then was {true}", t,
                                    records=(e.get("seq"),)))
            if t - used_at > staleness_s:
                bad.append(Evidence(f"{label}: stale {asset} price, {t - used_at:.3f} s old (bound {staleness_s} s)", t,
                                    records=(e.get("seq"),)))
            elif last_resume is not None and used_at < last_resume:
                bad.append(Evidence(f"{label}: {asset} price from {last_resume - used_at:.3f} s before the last resume", t, records=(e.get("seq"),)))
            index[asset] = Fraction(str(p["price"]))
        try:
            ratio = unimmr(e.get("wallet", {}), e.get("positions", []), index)
        except KeyError as exc:
            bad.append(Evidence(f"{label}: no price for {exc} among its inputs", t, records=(e.get("seq"),)))
            continue
        if ratio is None or ratio > THRESHOLD[kind]:
            shown = "none" if ratio is None else f"{float(ratio):.4f}"
            bad.append(Evidence(f"{label}: uniMMR recomputes to {shown} > {float(THRESHOLD[kind])}", t, records=(e.get("seq"),)))
    figures = {"margin_calls": len(audit["margin_calls"]), "liquidations": len(audit["liquidations"])}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} erroneous margin decision(s): {bad[0].text}", tuple(bad[:50]), figures)
    if not events:
        return CheckResult(NAME, True, "no margin call or liquidation was made (vacuous)", figures=figures)
    return CheckResult(NAME, True, f"{len(events)} margin decision(s), each on true fresh prices and below threshold",
                       figures=figures)
