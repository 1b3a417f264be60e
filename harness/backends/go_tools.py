"""The project's pinned Go tools, built into its own bin folder: the Toxiproxy server every local
run needs (``umchaos setup``), and any tool a test pins (actionlint for the CI templates).

Built from source with the Go toolchain (``go install``), since no prebuilt binary can be
downloaded here; a no-op when the pinned version is already there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import Undecided

__all__ = ["TOXIPROXY_VERSION", "bin_dir", "go_install", "toxiproxy_server_path", "install_toxiproxy"]

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_PACKAGE = "github.com/Shopify/toxiproxy/v2/cmd/server"
ROOT = Path(__file__).resolve().parents[2]


def bin_dir() -> Path:
    return Path(os.environ.get("UMCHAOS_BIN", ROOT / ".bin"))


def _stamp(binary: Path) -> Path:
    """`go install` builds report their version as "git", so we stamp the pin beside the binary."""
    return binary.with_name(binary.name + ".version")


def go_install(package: str, version: str, name: str, *, force: bool = False) -> Path:
    """``go install package@version`` into the bin folder as ``name`` (the binary is named after
    the package's last element); Undecided in one line when Go is missing or the build fails."""
    target = bin_dir() / name
    stamp = _stamp(target)
    if not force and target.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return target
    go = shutil.which("go")
    if go is None:
        raise Undecided(f"cannot install {name}: the Go toolchain (`go`) is not on PATH")
    bin_dir().mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([go, "install", f"{package}@{version}"], capture_output=True, text=True,
                          env={**os.environ, "GOBIN": str(bin_dir())}, timeout=900)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Undecided(f"go install {package}@{version} failed: {last}")
    (bin_dir() / package.rsplit("/", 1)[-1]).replace(target)
    stamp.write_text(version + "\n")
    return target


def toxiproxy_server_path() -> Path:
    binary = bin_dir() / "toxiproxy-server"
    if not binary.exists():
        raise Undecided(f"toxiproxy-server not installed in {bin_dir()}; run `umchaos setup`")
    return binary


def install_toxiproxy(force: bool = False) -> Path:
    return go_install(TOXIPROXY_PACKAGE, TOXIPROXY_VERSION, "toxiproxy-server", force=force)
