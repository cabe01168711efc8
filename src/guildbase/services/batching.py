"""Auto-pipelining: the Redis commands of every task that asks in one event-loop turn, sent as one pipeline.

With redis-py's asyncio client each command costs a pool checkout, a write, a
read and the reply parsing, around 60 µs of this process's CPU, which is more
than a PostgreSQL point read costs through asyncpg. A bot under load has many
tasks asking for cache entries at the same moment; sending their commands
together in one non-transactional pipeline costs a fraction of that per
command (one checkout, one write, one read of all replies) and changes no
result: each caller gets exactly the reply of its own command, in order.

Nothing is held back waiting for more work: the batch is sent on the next
turn of the event loop, so a lone command pays one loop turn of latency.
"""

import asyncio
from functools import partial
from typing import Any

from redis.crc import key_slot

from guildbase.services.invalidation import drop_commands
from guildbase.services.redis import RedisClient, is_cluster, is_in_process


class CommandBatcher:
    """Collects commands submitted in the same loop turn and sends them as one pipeline.

    Two kinds of request are merged, not just pipelined: ``mget`` calls become
    one ``MGET`` of all their keys (one reply to parse instead of one per
    caller), and ``drop`` calls (cache invalidations) on the same channel become
    one set of commands for all their keys, a single ``EVAL`` on one server.

    On a Redis Cluster a command may name keys of one slot only: the ``MGET``
    calls are merged per slot (each caller's own keys share a hash tag), so a
    batch sends one ``MGET`` per slot it touches, and the cluster pipeline
    routes each command to the node owning its slot. Publishing there is
    ``SPUBLISH`` (sharded pub/sub): the message goes to the one shard that
    owns the channel instead of being broadcast over the whole cluster bus.
    """

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.cluster = is_cluster(client)
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        self.scripted = not self.cluster and not is_in_process(client)
        """Whether a batch's invalidations are one ``EVAL`` (one Redis server) or plain commands."""
        self._commands: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._mgets: list[tuple[tuple[str, ...], asyncio.Future[Any]]] = []
        self._drops: dict[str, tuple[list[str], asyncio.Future[Any]]] = {}
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0
        """How many round trips were sent, pipelines or lone commands (tests read it to prove batching happened)."""

    def execute(self, *args: Any, **options: Any) -> "asyncio.Future[Any]":
        """Queue one command; the future gets its reply (or its error).

        ``options`` go to redis-py's reply callback, as in ``execute_command``
        (e.g. ``withscores=True`` pairs a ``ZREVRANGE … WITHSCORES`` reply).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._commands.append((args, options, future))
        self._schedule()
        return future

    def execute_many(self, *commands: tuple[Any, ...]) -> "asyncio.Future[list[Any]]":
        """Queue several commands (``(*args, options)`` each) that one caller needs together.

        The future gets their replies in order, or the first error.
        """
        return asyncio.gather(*(self.execute(*command[:-1], **command[-1]) for command in commands))

    def mget(self, *keys: str) -> "asyncio.Future[Any]":
        """Queue a read of ``keys``; the future gets their values in order (None where absent)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._mgets.append((keys, future))
        self._schedule()
        return future

    def drop(self, channel: str, keys: list[str]) -> "asyncio.Future[Any]":
        """Queue ``keys`` to be made stale everywhere; merged with the batch's other keys for ``channel``.

        The whole batch's invalidations go out as the commands of
        ``services.invalidation.drop_commands``: one ``EVAL`` on a Redis
        server, two commands per key and one publish on a cluster or the
        in-process Redis. The future fails with the first error among them.
        """
        queued = self._drops.get(channel)
        if queued is None:
            queued = ([], asyncio.get_running_loop().create_future())
            self._drops[channel] = queued
            self._schedule()
        queued[0].extend(keys)
        return queued[1]

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        commands, self._commands = self._commands, []
        for channel, (keys, future) in self._drops.items():
            commands += _drop_group(
                drop_commands(keys, channel, scripted=self.scripted, publish=self.publish_command), future
            )
        self._drops = {}
        for group in self._mget_groups():
            merged: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            merged.add_done_callback(partial(_split_mget, group))
            commands.append((("MGET", *(key for keys, _ in group for key in keys)), {}, merged))
        self._mgets = []
        self._scheduled = False
        task = asyncio.create_task(self._run(commands))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _mget_groups(self) -> list[list[tuple[tuple[str, ...], "asyncio.Future[Any]"]]]:
        """The queued ``mget`` calls, merged into one group (one server) or one per slot (a cluster)."""
        if not self._mgets:
            return []
        if not self.cluster:
            return [self._mgets]
        by_slot: dict[int, list[tuple[tuple[str, ...], asyncio.Future[Any]]]] = {}
        for keys, future in self._mgets:
            by_slot.setdefault(key_slot(keys[0].encode()), []).append((keys, future))
        return list(by_slot.values())

    async def _run(self, commands: list[tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]]) -> None:
        if len(commands) == 1:  # a lone command: redis-py's pipeline machinery would double its cost
            await self._run_one(*commands[0])
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for args, options, _ in commands:
                    pipe.execute_command(*args, **options)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as error:
            for *_, future in commands:
                _settle(future, error)
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        for (*_, future), reply in zip(commands, replies, strict=True):
            _settle(future, reply)

    async def _run_one(self, args: tuple[Any, ...], options: dict[str, Any], future: "asyncio.Future[Any]") -> None:
        """Send one command as itself: the same reply, or the same error, as in a pipeline."""
        try:
            reply = await self.client.execute_command(*args, **options)
        except BaseException as error:
            _settle(future, error)
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        _settle(future, reply)

    async def drain(self) -> None:
        """Wait until everything queued so far has been sent and answered."""
        while self._scheduled or self._running:
            await asyncio.sleep(0)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)


def _settle(future: "asyncio.Future[Any]", outcome: Any) -> None:
    """Give a waiter its reply, or its error (marked retrieved: the waiter re-raises it)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.exception()
    else:
        future.set_result(outcome)


def _drop_group(
    commands: list[tuple[Any, ...]], future: "asyncio.Future[Any]"
) -> list[tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]]:
    """One batch's invalidation commands; ``future`` gets the last one's reply, or the first error among them."""
    loop = future.get_loop()
    parts: list[asyncio.Future[Any]] = [loop.create_future() for _ in commands]
    parts[-1].add_done_callback(partial(_settle_group, future, parts))  # every part is settled by then
    return [(command, {}, part) for command, part in zip(commands, parts, strict=True)]


def _settle_group(future: "asyncio.Future[Any]", parts: list["asyncio.Future[Any]"], _last: object) -> None:
    """Settle a group's caller once its last reply is in (``_run`` settles replies in order)."""
    for part in parts:
        if part.cancelled():
            future.cancel()
            return
        if part.exception() is not None:
            _settle(future, part.exception())
            return
    _settle(future, parts[-1].result())


def _split_mget(mgets: list[tuple[tuple[str, ...], "asyncio.Future[Any]"]], merged: "asyncio.Future[Any]") -> None:
    """Hand each caller of a merged ``MGET`` the slice of values for its own keys."""
    failure = merged.exception()
    values = None if failure else merged.result()
    offset = 0
    for keys, future in mgets:
        _settle(future, failure or values[offset : offset + len(keys)])  # type: ignore[index]
        offset += len(keys)
