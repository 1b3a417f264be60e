"""segregation: customer funds stay in the segregated wallet. At every balance sample, per
asset, the segregated wallet equals what is owed to customers; every fee/insurance/house movement
moves custody between the segregated and the house wallet; custody is conserved."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import missing, unknown
from harness.history import History

__all__ = ["segregation"]
NAME = "segregation"
EXCHANGE = ("fee:revenue", "insurance:fund", "house:equity")


def _gap(balances: dict[str, dict[str, int]]) -> dict[str, int]:
    """Per asset: segregated wallet minus customer liabilities (0 when segregated)."""
    out: dict[str, int] = defaultdict(int)
    for account, assets in balances.items():
        for asset, amount in assets.items():
            if account == "wallet:segregated":
                out[asset] += amount
            elif account.startswith("cust:"):
                out[asset] -= amount
    return {a: v for a, v in out.items() if v}


def segregation(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal", "balances"):
        return unknown(NAME, absent, audit)
    bad: list[Evidence] = []
    samples: list[dict[str, Any]] = [*(audit.get("balance_samples") or []), audit["balances"]]
    for sample in samples:
        if gap := _gap(sample["balances"]):
            bad.append(Evidence(f"segregated wallet differs from customer liabilities by {gap} (minor units)",
                                float(sample.get("time", 0))))
    deposits: dict[str, int] = defaultdict(int)
    for record in audit["journal"]:
        if not record.legs:  # most records (orders resting, cancels) move no money
            continue
        exchange: dict[str, int] = defaultdict(int)
        house: dict[str, int] = defaultdict(int)
        for leg in record.legs:
            if leg.account in EXCHANGE:
                exchange[leg.asset] += leg.amount
            elif leg.account == "wallet:house":
                house[leg.asset] += leg.amount
            elif leg.account == "wallet:segregated" and record.kind in ("genesis", "deposit"):
                deposits[leg.asset] += leg.amount
        for asset in set(exchange) | set(house):
            if exchange[asset] + house[asset] != 0:
                bad.append(Evidence(f"record {record.seq} ({record.kind}) moves {-exchange[asset]} {asset} to exchange "
                                    f"accounts but {house[asset]} into the house wallet", record.time,
                                    records=(record.seq,)))
    custody: dict[str, int] = defaultdict(int)
    for account in ("wallet:segregated", "wallet:house"):
        for asset, amount in audit["balances"]["balances"].get(account, {}).items():
            custody[asset] += amount
    if drift := {a: custody[a] - deposits[a] for a in set(custody) | set(deposits) if custody[a] != deposits[a]}:
        bad.append(Evidence(f"custody not conserved: wallets minus recorded deposits = {drift}"))
    figures = {"samples": len(samples)}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} segregation violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    return CheckResult(NAME, True, f"segregated at all {len(samples)} balance sample(s); every exchange movement left "
                                   "the customer wallet; custody conserved", figures=figures)
