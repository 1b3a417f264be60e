"""Micro-batching: items submitted while a call is in flight travel together in the next call.

Under load this turns many small HTTP calls into few larger ones (group commit for the ledger,
batched margin checks) without adding latency when idle: a lone item is sent at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """``send(items) -> results`` (same length, same order) is called with one batch at a time."""

    def __init__(self, send: Callable[[list[In]], Awaitable[list[Out]]], *, max_batch: int = 500) -> None:
        self._send = send
        self._max = max_batch
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._flushing = False

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max], self._pending[self._max:]
                try:
                    results = await self._send([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(type(exc)(*exc.args))
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = False
