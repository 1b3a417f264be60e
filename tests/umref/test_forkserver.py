"""The fork server: forked services are real, separate processes that behave like started ones."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from targets.umref.config import SERVICES
from targets.umref.launcher import Topology, TopologyError, plan

pytestmark = pytest.mark.integration


def test_each_service_is_its_own_process_group_with_its_own_title(tmp_path: Path) -> None:
    with Topology(plan(tmp_path / "umref")) as topo:
        pids = {name: topo.procs[name].pid for name in SERVICES}
        assert len(set(pids.values())) == len(SERVICES)
        for name, pid in pids.items():
            assert os.getpgid(pid) == pid, f"{name} is not the leader of its own process group"
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            assert f"-m targets.umref.service {name} " in title
        topo.kill("margin")
        assert topo.procs["margin"].poll() == -9  # the exit status of a SIGKILL, as with Popen
        assert not Path(f"/proc/{pids['margin']}").exists(), "the killed service was not reaped"
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists()


def test_a_service_that_cannot_start_reports_its_exit_code_and_log(tmp_path: Path) -> None:
    config = plan(tmp_path / "umref")
    with socket.socket() as taken:  # the ledger's port is in use: that service must fail, loudly
        taken.bind(("127.0.0.1", config.ports["ledger-a"]))
        taken.listen()
        topo = Topology(config)
        with pytest.raises(TopologyError, match=r"ledger-a exited with code 1 during start; see .*ledger-a\.log"):
            topo.start(ready_within_s=10)
    assert "address already in use" in (tmp_path / "umref" / "logs" / "ledger-a.log").read_text().lower()
    assert not topo.forkserver.running  # stop() on the failed start closed the server too


def test_another_service_on_the_port_is_not_taken_for_this_one(tmp_path: Path) -> None:
    """Two runs at once: a port chosen for matching may already serve another run's service,
    which answers /health 200 too. Start-up must see matching fail, not call it healthy."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class OtherRunsLedger(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = json.dumps({"service": "ledger-a", "status": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    config = plan(tmp_path / "umref")
    server = ThreadingHTTPServer(("127.0.0.1", config.ports["matching"]), OtherRunsLedger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(TopologyError, match=r"matching exited with code 1 during start"):
            Topology(config).start(ready_within_s=10)
    finally:
        server.shutdown()
        server.server_close()
