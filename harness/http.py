"""HTTP to the target, the way every part of the harness sends it.

``trust_env=False``: requests otherwise routes through the proxy named in the environment
(``HTTP_PROXY``, ``.netrc``) and looks them up on every request (0.7 ms each). Traffic from the
harness goes straight to the loopback target and its proxies, never anywhere else.
"""

from __future__ import annotations

import requests

__all__ = ["target_session"]


def target_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session
