"""Install the pinned Toxiproxy server into the project's own bin folder (``umchaos setup``).

Built from source with the Go toolchain (``go install``), since no prebuilt binary can be
downloaded here; a no-op when the right version is already there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import Undecided

__all__ = ["TOXIPROXY_VERSION", "bin_dir", "toxiproxy_server_path", "install_toxiproxy"]

TOXIPROXY_VERSION = "v2.12.0"
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
ROOT = Path(__file__).resolve().parents[2]


def bin_dir() -> Path:
    return Path(os.environ.get("UMCHAOS_BIN", ROOT / ".bin"))


def _stamp(binary: Path) -> Path:
    """`go install` builds report their version as "git", so we stamp the pin beside the binary."""
    return binary.with_name(binary.name + ".version")


def toxiproxy_server_path() -> Path:
    binary = bin_dir() / "toxiproxy-server"
    if not binary.exists():
        raise Undecided(f"toxiproxy-server not installed in {bin_dir()}; run `umchaos setup`")
    return binary


def install_toxiproxy(force: bool = False) -> Path:
    target = bin_dir() / "toxiproxy-server"
    stamp = _stamp(target)
    if not force and target.exists() and stamp.exists() and stamp.read_text().strip() == TOXIPROXY_VERSION:
        return target
    go = shutil.which("go")
    if go is None:
        raise Undecided("cannot install toxiproxy-server: the Go toolchain (`go`) is not on PATH")
    bin_dir().mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([go, "install", f"{MODULE}@{TOXIPROXY_VERSION}"], capture_output=True, text=True,
                          env={**os.environ, "GOBIN": str(bin_dir())}, timeout=900)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Undecided(f"go install {MODULE}@{TOXIPROXY_VERSION} failed: {last}")
    (bin_dir() / "server").replace(target)
    stamp.write_text(TOXIPROXY_VERSION + "\n")
    return target
