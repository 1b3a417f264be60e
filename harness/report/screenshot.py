"""A PNG of report.html through headless Chromium (for READMEs, terminals and CI artifacts)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import Undecided

__all__ = ["screenshot"]

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def screenshot(html: Path, png: Path, *, width: int = 1200, height: int = 1500) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise Undecided("no Chromium found for the screenshot (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="umchaos-chrome-") as profile:
        proc = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png.resolve()}",
                               f"--window-size={width},{height}", html.resolve().as_uri()],
                              capture_output=True, text=True, timeout=60)
    if not png.exists():
        raise Undecided(f"Chromium made no screenshot: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return png
