"""``python -m locust``, with one start-up cost taken out.

gevent's monkey patching, which Locust does on import, looks up its plugins 25 times, and each
look-up reads the entry points of every installed package (Python 3.11's importlib.metadata
keeps nothing): CPU paid at every Locust start, when a run's start-up is CPU-bound. Here
they are read once. The installed packages do not change while Locust runs.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any


def _memoize_entry_points() -> None:
    every = importlib.metadata.entry_points()

    def entry_points(**params: Any) -> Any:  # what the original returns, with or without params
        return every.select(**params) if params else every

    importlib.metadata.entry_points = entry_points  # type: ignore[assignment]


if __name__ == "__main__":
    _memoize_entry_points()
    from locust.main import main

    main()
