"""redis-py's TCP connection, with its write deadline kept by ``asyncio.timeout`` instead of ``asyncio.wait_for``.

On Python 3.11, ``asyncio.wait_for`` runs what it waits for as a new task. With
``socket_timeout`` set (``create_redis`` sets it, so a dead server cannot hold
a command past the circuit breaker's notice), redis-py sends every command or
pipeline that way: a task created, scheduled and torn down per write, about a
tenth of this process's CPU on a cache invalidation (the W2 profile in
``docs/performance.md``). ``asyncio.timeout`` keeps the same deadline on the
current task, as redis-py's own reads already do.

Most writes need no deadline at all: the command goes to the transport, the
kernel takes it at once, and ``drain`` returns without waiting, because a
stream is paused only while its buffer is above the low-water mark. The
deadline's timer (a loop handle armed and cancelled per write) is armed only
when the buffer is above that mark, which is exactly when ``drain`` can wait
on a server that stopped reading.

Everything else is redis-py's: the connect and health check before the write,
and the same errors after it: a ``TimeoutError`` when the deadline passes, a
``ConnectionError`` for a socket error, and the connection closed on any
failure, since a half-written command leaves it unusable.
"""

import asyncio
from collections.abc import Iterable

import redis.asyncio as redis
from redis.exceptions import ConnectionError  # noqa: A004 - redis-py's own class
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["TimelyConnection"]


class TimelyConnection(redis.Connection):
    """A plain TCP connection whose writes keep ``socket_timeout`` without a task per write."""

    async def send_packed_command(self, command: str | bytes | Iterable[bytes], check_health: bool = True) -> None:
        """Write ``command`` within ``socket_timeout``; a failed write closes the connection."""
        if not self.socket_timeout:
            await super().send_packed_command(command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            writer = self._writer
            assert writer is not None  # noqa: S101 - connected just above
            writer.writelines(command)  # never waits: what the socket cannot take now is buffered
            transport = writer.transport
            if transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[0]:
                await writer.drain()  # at or below the low-water mark the stream is never paused: no wait, no timer
            else:
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()
        except TimeoutError:  # the deadline passed mid-write (builtin, not an OSError here: caught first)
            await self.disconnect(nowait=True)
            msg = "Timeout writing to socket"
            raise RedisTimeoutError(msg) from None
        except OSError as error:
            await self.disconnect(nowait=True)
            number, message = ("UNKNOWN", error.args[0]) if len(error.args) == 1 else error.args[:2]
            msg = f"Error {number} while writing to socket. {message}."
            raise ConnectionError(msg) from error
        except BaseException:
            await self.disconnect(nowait=True)
            raise
