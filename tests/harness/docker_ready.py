"""Why the tests that need a Docker engine and the project's images must skip, or None: one
answer for the docker backend's tests and the Compose project's."""

from __future__ import annotations

from harness.docker_setup import engine_answers, images_tag


def docker_skip_reason() -> str | None:
    if not engine_answers():
        return "no Docker engine answers (run `umchaos setup --docker`)"
    import docker

    client = docker.from_env()
    try:
        for ref in (f"umchaos/umref:{images_tag()}", f"umchaos/toxiproxy:{images_tag()}"):
            try:
                client.images.get(ref)
            except docker.errors.ImageNotFound:
                return f"image {ref} not built (run `umchaos setup --docker`)"
    finally:
        client.close()
    return None
