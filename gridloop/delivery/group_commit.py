"""Group commit: the units of work of concurrent requests written together, one transaction for all that wait.

A request that answers only once its effect is committed (intake's `POST /v1/reports`) spends most of its time
in the transaction's round trips: BEGIN, a statement per table, COMMIT. Under load many such requests wait at the
same moment, so `GroupCommit` writes every one that is waiting in one transaction — one statement per table for
the group — and then answers each with its own result.

- No timer. The first caller starts a write at once, so an idle service adds no latency; callers that arrive
  while a write is in flight form the next group. `writers` writes may be in flight at once.
- A group never holds two items with the same `key` (say, two posts of one report): the later one waits for the
  next group, so it sees the first one committed, exactly as if the two had come one after the other.
- One item must not sink the others. If a group's transaction fails for a reason other than an unreachable
  database, each of its items is written again in a transaction of its own, so only the item at fault gets the
  error. An unreachable or busy database fails the whole group at once: every caller gets the same error (503).
- A caller that goes away does not take its item out: once submitted, the item is committed or fails with the
  group, like a request whose client hung up during its transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from gridloop.delivery.db import Database, UnitOfWork, is_unavailable
from gridloop.delivery.metrics import GROUP_COMMIT_UNITS
from gridloop.delivery.tracing import activated

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`await submit(item)` returns `apply`'s result for that item once the transaction holding it committed.

    `apply(items, uow)` writes a group in the given unit of work and returns one result per item, in order."""

    def __init__(
        self,
        db: Database,
        apply: Callable[[list[T], UnitOfWork], Awaitable[list[R]]],
        *,
        key: Callable[[T], Hashable],
        name: str,
        max_group: int = 64,
        writers: int = 2,
        trace_key: Callable[[T], str] | None = None,
    ) -> None:
        self._db = db
        self._apply = apply
        self._key = key
        self._max_group = max_group
        self._max_writers = writers
        self._writers = 0
        # The events an item publishes have this key (their case): they continue the trace of the item's caller.
        self._trace_key = trace_key
        self._waiting: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._callers: dict[int, Context] = {}  # id(future) -> the submitting request's trace context
        self._tasks: set[asyncio.Task[None]] = set()
        self._sizes = GROUP_COMMIT_UNITS.labels(name)

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        if trace.get_current_span().get_span_context().is_valid:
            self._callers[id(future)] = otel_context.get_current()
            future.add_done_callback(lambda done: self._callers.pop(id(done), None))
        self._waiting.append((item, future))
        if self._writers < self._max_writers:
            self._writers += 1
            task = asyncio.create_task(self._write_while_waiting())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                await self._write(self._take())
        finally:
            self._writers -= 1

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The next group, in arrival order; an item whose key is already in the group stays for the next one."""
        group: list[tuple[T, asyncio.Future[R]]] = []
        later: list[tuple[T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        while self._waiting and len(group) < self._max_group:
            entry = self._waiting.popleft()
            key = self._key(entry[0])
            if key in keys:
                later.append(entry)
            else:
                keys.add(key)
                group.append(entry)
        self._waiting.extendleft(reversed(later))
        return group

    def _traced(self, group: list[tuple[T, asyncio.Future[R]]]) -> tuple[Context | None, dict[str, Context]]:
        """The context to write the group in (its one caller's; none for several callers) and the callers'
        contexts by the key of the events they publish."""
        callers = [(item, self._callers.get(id(future))) for item, future in group]
        if len(callers) == 1:
            return callers[0][1] or Context(), {}
        by_key = {self._trace_key(item): ctx for item, ctx in callers if ctx is not None} if self._trace_key else {}
        return Context(), by_key

    async def _write(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        current, by_key = self._traced(group)
        try:
            with activated(current):
                async with self._db.unit_of_work() as uow:
                    uow.trace_parents.update(by_key)
                    results = await self._apply([item for item, _ in group], uow)
        except asyncio.CancelledError:
            for _, future in group:
                future.cancel()
            raise
        except Exception as exc:
            if len(group) == 1 or is_unavailable(exc):
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                return
            for entry in group:  # find the item at fault: each alone
                await self._write([entry])
            return
        self._sizes.observe(len(group))
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
