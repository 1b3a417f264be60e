"""``umchaos setup --docker``: a Docker engine that answers, and the umref and Toxiproxy images.

Nothing can be pulled from a registry here, so the base image is a minimal Debian root made with
``debootstrap`` and ``docker import``-ed; the project's wheel and pinned dependencies go on top
with pip. Images are tagged with a hash of everything that goes into them, so a second setup with
unchanged sources builds nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.go_tools import ROOT, bin_dir, toxiproxy_server_path
from harness.errors import Undecided

if TYPE_CHECKING:
    import docker

__all__ = ["DockerImages", "compose_path", "engine_answers", "ensure_compose", "ensure_engine", "ensure_images",
           "images_tag"]

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "iproute2", "iptables", "ca-certificates")
LABEL = "umchaos"  # every image, container, network and volume we make carries this label key
COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"


@dataclass(frozen=True)
class DockerImages:
    umref: str
    toxiproxy: str
    builds: tuple[str, ...] = ()  # one image per build a release may name (ContainerRecipe says how)


BUILD_ENV = "UMCHAOS_BUILD"


def build_image(image: str, service: str, build: str) -> str:
    """The image a release of ``build`` of ``service`` runs: ``image`` (``name:tag``) with the
    build named in its environment, under its own tag."""
    return f"{image}-{service}-{build}"


def _release_builds() -> list[tuple[str, str]]:
    """(service, build) of every build the default target lists, for its release images."""
    from harness.targets import DEFAULT_TARGET, load_target

    return [(service, build) for service, builds in sorted(load_target(DEFAULT_TARGET).builds.items())
            for build in builds]


def _run(cmd: list[str], *, timeout: float, what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Undecided(f"{what}: {exc}") from None
    if proc.returncode != 0:
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"])[-1]
        raise Undecided(f"{what} failed (exit {proc.returncode}): {last}")
    return proc.stdout


def engine_answers(timeout_s: float = 3.0) -> bool:
    """Whether the engine named by DOCKER_HOST (or the default socket) answers a ping."""
    import docker

    try:
        client = docker.from_env(timeout=int(max(1, timeout_s)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # docker raises several unrelated types for "no engine": all mean no
        return False


def _dockerd_args(driver: str) -> list[str]:
    # The sandbox's kernel may refuse iptables NAT: networks still work without it, because all our
    # published ports are on 127.0.0.1 and docker-proxy forwards them in user space.
    return ["dockerd", f"--storage-driver={driver}", "--iptables=false", "--ip6tables=false",
            "--log-level=warn"]


def ensure_engine(log_dir: Path, *, wait_s: float = 60.0) -> str:
    """Install and start ``dockerd`` if no engine answers; returns how the engine was found."""
    if engine_answers():
        return "engine already answering"
    if os.environ.get("DOCKER_HOST"):
        raise Undecided(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer; not starting a local engine")
    if shutil.which("dockerd") is None:
        if shutil.which("apt-get") is None:
            raise Undecided("no Docker engine and no apt-get to install Debian's docker.io")
        _run(["apt-get", "update", "-q"], timeout=600, what="apt-get update")
        _run(["apt-get", "install", "-y", "-q", "docker.io"], timeout=900, what="apt-get install docker.io")
    log_dir.mkdir(parents=True, exist_ok=True)
    tried: list[str] = []
    for driver in ("overlay2", "vfs"):
        log_path = log_dir / f"dockerd-{driver}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(_dockerd_args(driver), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and proc.poll() is None:
            if engine_answers(1):
                return f"started dockerd (pid {proc.pid}, storage driver {driver}, log {log_path})"
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        tail = (log_path.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
        tried.append(f"{driver}: {tail}")
    raise Undecided("dockerd would not start; tried " + " | ".join(tried))


def _project_files() -> list[Path]:
    """What the umref image runs: the target's sources and the dependency pins (the harness never
    runs inside a container, so editing it does not rebuild the image)."""
    files = [ROOT / "pyproject.toml"]
    for top in ("targets",):
        files += sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files


def images_tag() -> str:
    """A hash of the image recipe and the project sources: same inputs, same tag, nothing rebuilt."""
    digest = hashlib.sha256()
    digest.update(f"{DEBIAN_SUITE} {' '.join(BASE_PACKAGES)} v1".encode())
    for path in _project_files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _image_exists(client: docker.DockerClient, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build(context: Path, dockerfile: str, tag: str, *, timeout: float) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    _run(["docker", "build", "--force-rm", "-q", "-t", tag, "."], cwd=context, timeout=timeout,
         what=f"docker build {tag}")


def _base_image(client: docker.DockerClient, work: Path) -> str:
    ref = f"umchaos/debian-base:{DEBIAN_SUITE}-" + hashlib.sha256(" ".join(BASE_PACKAGES).encode()).hexdigest()[:12]
    if _image_exists(client, ref):
        return ref
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "install", "-y", "-q", "debootstrap"], timeout=600, what="apt-get install debootstrap")
    rootfs = work / "rootfs"
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", DEBIAN_SUITE, str(rootfs),
          DEBIAN_MIRROR], timeout=1500, what="debootstrap")
    shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    tar = work / "rootfs.tar"
    _run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], timeout=600, what="tar rootfs")
    _run(["docker", "import", "-c", f"LABEL {LABEL}=base", str(tar), ref], timeout=600, what="docker import")
    return ref


def ensure_images() -> DockerImages:
    """The umref and Toxiproxy images for the current sources, built only when missing."""
    import docker

    tag = images_tag()
    umref = f"umchaos/umref:{tag}"
    releases = {build_image(umref, service, build): build for service, build in _release_builds()}
    images = DockerImages(umref=umref, toxiproxy=f"umchaos/toxiproxy:{tag}", builds=tuple(releases))
    client = docker.from_env()
    try:
        if all(_image_exists(client, ref) for ref in (images.umref, images.toxiproxy, *images.builds)):
            return images
        with tempfile.TemporaryDirectory(prefix="umchaos-image-") as tmp:
            work = Path(tmp)
            base = _base_image(client, work)
            ctx = work / "umref"
            ctx.mkdir()
            # Wheels are fetched on the host (its pip is set up for this network, a container's is
            # not) and installed in the image with no index at all.
            _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(ctx / "wheels"), str(ROOT)],
                 timeout=900, what="pip wheel")
            _build(ctx, f"FROM {base}\nLABEL {LABEL}=umref\nCOPY wheels /tmp/wheels\n"
                        "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --no-index "
                        "--find-links /tmp/wheels um-chaos-harness && rm -rf /tmp/wheels\n"
                        "ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1\nWORKDIR /data\n",
                   images.umref, timeout=1200)
            tctx = work / "toxiproxy"
            tctx.mkdir()
            shutil.copy2(toxiproxy_server_path(), tctx / "toxiproxy-server")
            _build(tctx, f"FROM {base}\nLABEL {LABEL}=toxiproxy\nCOPY toxiproxy-server /usr/local/bin/\n"
                         'ENTRYPOINT ["/usr/local/bin/toxiproxy-server", "-host", "0.0.0.0"]\n',
                   images.toxiproxy, timeout=600)
            for i, (ref, build) in enumerate(releases.items()):  # each its base and one line of environment
                bctx = work / f"build-{i}"
                bctx.mkdir()
                _build(bctx, f"FROM {umref}\nLABEL {LABEL}=umref-build\nENV {BUILD_ENV}={build}\n", ref, timeout=300)
    finally:
        client.close()
    return images


def compose_path() -> Path:
    """Where the project's own Compose CLI goes (it runs standalone: ``docker-compose up``)."""
    return bin_dir() / "docker-compose"


def ensure_compose() -> Path:
    """The current Compose CLI, built from source when missing (Debian's docker-compose 1.29 is the
    retired Python one). ``go install`` refuses Compose (its go.mod has exclude directives), so it
    is built inside a throwaway module that requires it."""
    binary = compose_path()
    stamp = binary.with_name(binary.name + ".version")
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == COMPOSE_VERSION:
        return binary
    go = shutil.which("go")
    if go is None:
        raise Undecided("cannot build docker-compose: the Go toolchain (`go`) is not on PATH")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="umchaos-compose-") as tmp:
        work = Path(tmp)
        _run([go, "mod", "init", "umchaos.local/compose"], cwd=work, timeout=60, what="go mod init")
        _run([go, "get", f"{COMPOSE_MODULE}/cmd@{COMPOSE_VERSION}"], cwd=work, timeout=900,
             what=f"go get {COMPOSE_MODULE}/cmd@{COMPOSE_VERSION}")
        built = binary.with_name(binary.name + ".tmp")  # beside the target: the rename is atomic
        _run([go, "build", "-o", str(built), f"-ldflags=-X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}",
              f"{COMPOSE_MODULE}/cmd"], cwd=work, timeout=900,
             what=f"go build {COMPOSE_MODULE}/cmd")
    built.replace(binary)
    stamp.write_text(COMPOSE_VERSION + "\n")
    return binary
