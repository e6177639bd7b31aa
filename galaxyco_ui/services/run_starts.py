"""Group commit: run starts that arrive together are written in one transaction.

Most of a run start's cost is the same for every start of a workspace: take the
workspace's write lock (the concurrent-run cap is a count followed by an insert, which
must not interleave), count its active runs, commit. Started one by one, twenty starts
that arrive at once take that lock in turn, and the twentieth waits for nineteen whole
transactions before its own.

So a start does not open its own transaction: it joins its workspace's queue here. The
first start to arrive opens a batch, lets the event loop run once so that starts already
under way join it, and one call in a worker thread (``serve``) handles the whole batch in
one transaction: one lock, one count, then each start checked on its own in the order
they arrived, one insert, one commit. Each caller then gets its own answer: its run, or
the error that refused its start alone. If the transaction itself fails, nothing of the
batch is written and every caller of the batch gets that error. Starts that arrive while
a batch is in the database wait for the next one (at most ``max_batch`` starts a batch).

After the commit, the batch's task also hands each new run on (``after``: announce it and
queue it) and answers its caller once that is done.

A caller cancelled while it waits (``asyncio.CancelledError``): if its start had not been
taken into a batch yet, it is dropped and nothing is written; if it had, its run is
written, announced and queued like the others, and only the answer is lost: the run shows
in the history and runs as usual (it is not written twice: nothing retries it).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class _Waiter(Generic[RequestT, ResultT]):
    request: RequestT
    answer: asyncio.Future[ResultT]


class GroupCommit(Generic[RequestT, ResultT]):
    """Per-key batches of requests, each batch served by one ``serve`` call in a thread.

    Args:
        serve: handles a batch (one transaction); returns, per request in order, its
            result or the exception that refused it. Raising fails the whole batch.
        after: awaited for each result before its caller gets it (also when that caller
            was cancelled meanwhile); an exception it raises goes to that caller only.
        max_batch: the largest batch; more requests wait for the next one.
    """

    def __init__(
        self,
        serve: Callable[[list[RequestT]], Sequence[ResultT | Exception]],
        after: Callable[[RequestT, ResultT], Awaitable[None]],
        *,
        max_batch: int = 64,
    ) -> None:
        self._serve = serve
        self._after = after
        self.max_batch = max_batch
        # (event loop, key) → requests waiting for a batch; present while its batch task runs.
        self._queues: dict[tuple[asyncio.AbstractEventLoop, str], list[_Waiter[RequestT, ResultT]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, request: RequestT) -> ResultT:
        """Serve ``request`` in the next batch of ``key``; returns its result or raises its error."""
        loop = asyncio.get_running_loop()
        waiter: _Waiter[RequestT, ResultT] = _Waiter(request, loop.create_future())
        slot = (loop, key)
        queue = self._queues.get(slot)
        if queue is None:
            queue = self._queues[slot] = []
            # A context of its own: the batch serves many callers, not the first one's request.
            task = loop.create_task(
                self._drain(slot), name=f"group-commit:{key}", context=contextvars.Context()
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(waiter)
        return await waiter.answer

    async def _drain(self, slot: tuple[asyncio.AbstractEventLoop, str]) -> None:
        queue = self._queues[slot]
        try:
            while queue:
                await asyncio.sleep(0)  # the starts already under way join this batch
                batch = [w for w in queue[: self.max_batch] if not w.answer.cancelled()]
                del queue[: self.max_batch]
                if batch:
                    await self._serve_batch(batch)
        finally:
            del self._queues[slot]
            for waiter in queue:  # only when this task itself was cancelled (the loop is closing)
                waiter.answer.cancel()

    async def _serve_batch(self, batch: list[_Waiter[RequestT, ResultT]]) -> None:
        try:
            outcomes = await asyncio.to_thread(self._serve, [w.request for w in batch])
        except asyncio.CancelledError:
            for waiter in batch:
                waiter.answer.cancel()
            raise
        except Exception as error:  # the transaction failed: nothing of the batch was written
            for waiter in batch:
                _settle(waiter.answer, error)
            return
        await asyncio.gather(*(self._answer(w, o) for w, o in zip(batch, outcomes, strict=True)))

    async def _answer(self, waiter: _Waiter[RequestT, ResultT], outcome: ResultT | Exception) -> None:
        if isinstance(outcome, Exception):
            _settle(waiter.answer, outcome)
            return
        try:
            await self._after(waiter.request, outcome)
        except Exception as error:
            _settle(waiter.answer, error)
            return
        if not waiter.answer.done():
            waiter.answer.set_result(outcome)


def _settle(answer: asyncio.Future[ResultT], error: Exception) -> None:
    if not answer.done():  # a cancelled caller's answer stays cancelled
        answer.set_exception(error)
