"""Fault kinds, one family a module, each kind one ``FaultKind`` registration (``base``); the
registry listing them all is ``harness.scenario.faults``.

base     FaultKind, what a draw and an expectation are given, the model every fault entry extends
links    latency, bandwidth, timeout, reset_peer, down, partition (through Toxiproxy)
nodes    kill, pause, region_power_loss, clock_skew, netem (a service's process or host)
market   price_shock, price_drift (market events on the harness's own price path)
release  deploy (a release of one of the target's builds during the run)
"""
