"""The local backend: umref services as processes on 127.0.0.1, one real Toxiproxy per run.

Every link the schedule may fault goes through its own proxy (named with the run id); the other
links stay direct so that the unfaulted paths are not slowed. The Toxiproxy server and the
services are journal resources, so a later cleanup can stop them if this run is killed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from harness.backends.base import Target
from harness.errors import BadInput, Undecided
from harness.faults.network import ProxyNet, ToxiproxyServer
from harness.safety import refuse_unsafe_addresses
from harness.schedule import expands_links
from harness.setup import toxiproxy_server_path
from targets.umref.config import REGION_OF, RiskBudget
from targets.umref.launcher import Topology, TopologyError, plan

if TYPE_CHECKING:
    from harness.runner import RunContext

__all__ = ["LocalBackend", "risk_budget"]

log = logging.getLogger("umchaos.local")
START_ATTEMPTS = 3


def risk_budget(overrides: Any) -> RiskBudget:
    """The scenario's risk overrides on top of the defaults."""
    raw = overrides.model_dump(exclude_none=True) if hasattr(overrides, "model_dump") else dict(overrides or {})
    known = {f.name for f in fields(RiskBudget)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadInput(f"target.risk: unknown field(s) {', '.join(unknown)}")
    return RiskBudget(**raw)


class LocalBackend:
    name = "local"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.server: ToxiproxyServer | None = None
        self.proxies: ProxyNet | None = None
        self.topology: Topology | None = None
        self.private_dir = (ctx.options.state_dir / "runs" / ctx.run_id).resolve()

    def up(self) -> Target:
        ctx = self.ctx
        risk = risk_budget(ctx.scenario.target.risk)
        # Checked again here, before anything is started or sent (prepare checked the YAML already).
        refuse_unsafe_addresses([ctx.scenario.target.host], ctx.scenario.allow_targets)
        needed = sorted({link for fault in ctx.schedule.faults for link in expands_links(fault, ctx.scenario.topology)})
        if needed:
            self.server = ToxiproxyServer(toxiproxy_server_path(), run_id=ctx.run_id, log_path=ctx.run_dir / "toxiproxy.log")
            self.server.start()
            ctx.journal.add_resource("toxiproxy", {"pgid": self.server.pid})
            self.proxies = ProxyNet(self.server.url, run_id=ctx.run_id)
        # API keys live in the services' configs: keep them out of the report folder (CI artifacts).
        data_dir = self.private_dir / "target"
        ctx.journal.add_resource("umref", {"pids_file": str(data_dir / "pids.json")})
        warm = ctx.options.forkserver  # started while the harness imported; a retry needs a new one
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                config = plan(data_dir, bugs=ctx.bugs, risk=risk, price_seed=ctx.schedule.seed, host=ctx.scenario.target.host)
            except ValueError as exc:
                raise BadInput(str(exc)) from None
            refuse_unsafe_addresses([config.url(name) for name in REGION_OF], ctx.scenario.allow_targets)
            links: dict[str, str] = {}
            for link in needed:
                assert self.proxies is not None
                callee = link.split("->")[1]
                proxy = self.proxies.create_proxy(link, f"{config.host}:{config.ports[callee]}")
                links[link] = f"http://{proxy.listen}"
            # the services' logs are evidence: written straight into the report folder
            topology = self.topology = Topology(config.with_(links=links), forkserver=warm, logs_dir=ctx.run_dir / "logs")
            warm = None
            try:
                took = topology.start()
                break
            except TopologyError as exc:
                # Another program may take a chosen port between choosing and binding it (two runs at
                # once): start again on new ports. Anything else is the target's failure to start.
                if "address already in use" not in str(exc) or attempt == START_ATTEMPTS:
                    raise Undecided(f"target never became ready: {exc}") from None
                log.warning("a port was taken while umref started (%s); starting again on new ports", exc)
                if self.proxies is not None:
                    self.proxies.destroy_all()
        log.info("umref up in %.2f s with %d proxied link(s)", took, len(links))
        addresses = topology.addresses()
        accounts_file = self.private_dir / "accounts.json"
        accounts_file.write_text(json.dumps({"gateway": addresses["gateway"], "accounts": addresses["accounts"]}))
        return Target(gateway=addresses["gateway"], services=addresses["services"], regions=dict(REGION_OF),
                      accounts=tuple(addresses["accounts"]), accounts_file=accounts_file, proxies=self.proxies,
                      links=links, risk=risk)

    def wait_ready(self, *, deadline_s: float) -> None:
        """The gateway answers and UM is not halted (margin has prices, the guard is calm)."""
        try:
            self._topology().wait_calm(deadline=time.monotonic() + deadline_s)
        except TopologyError as exc:
            raise Undecided(f"target not ready within {deadline_s:.0f} s: {exc}") from None

    def down(self) -> None:
        try:
            if self.topology is not None:
                self.topology.stop(kill=True)  # its data is deleted next: nothing to shut down gracefully
            shutil.rmtree(self.private_dir, ignore_errors=True)
        finally:
            try:
                if self.proxies is not None:
                    self.proxies.destroy_all()
            finally:
                if self.server is not None:
                    self.server.stop()

    # ---- process control for process/node faults -----------------------------------------
    def _topology(self) -> Topology:
        if self.topology is None:
            raise Undecided("target is not running")
        return self.topology

    def kill(self, service: str) -> None:
        self._topology().kill(service)

    def pause(self, service: str) -> None:
        self._topology().pause(service)

    def resume(self, service: str) -> None:
        self._topology().resume(service)

    def restart(self, service: str) -> None:
        try:
            self._topology().restart(service)
        except TopologyError as exc:
            raise Undecided(f"could not restart {service}: {exc}") from None

    def alive(self, service: str) -> bool:
        return self._topology().alive(service)

    def pid(self, service: str) -> int | None:
        proc = self._topology().procs.get(service)
        return proc.pid if proc is not None else None
