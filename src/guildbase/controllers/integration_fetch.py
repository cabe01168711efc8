"""Fetching an integration: a conditional HTTP request, new items claimed once, delivered, state kept.

One fetch, as the recurring ``INTEGRATION_FETCH`` job runs it:

1. Skip it when the feed is switched off or still backing off (``retry_after``).
2. Ask with ``If-None-Match`` / ``If-Modified-Since`` from the last answer: an
   unchanged feed costs a 304 and nothing else.
3. Parse (``feedparser`` for RSS and Atom; GitHub's releases JSON), newest
   first, and claim every item in ONE ``INSERT … ON CONFLICT DO NOTHING
   RETURNING``: only the items this fetch inserted are its to post, so two
   processes fetching at the same moment never post one item twice.
4. The first fetch of a feed records what is there and posts nothing (a new
   feed must not flood the channel with its back catalogue).
5. Post the claimed items oldest first. An item whose post fails is released
   (its claim row deleted) so the next fetch tries it again; one that was
   posted is never posted again. A crash between the post and the end of the
   fetch cannot repost either: the claim committed before the post.
6. Record the ETag, Last-Modified and newest item; a failure instead doubles
   the pause (``retry_after``, up to ``MAX_BACKOFF_SECONDS``) and keeps the
   error, with no change to what was seen.

Addresses: unless ``integrations_allow_private_hosts`` is on, a URL whose host
resolves to a loopback, private, link-local or reserved address is refused at
fetch time as well as at creation, so a guild admin cannot point the bot at
its own network.
"""

import asyncio
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from time import mktime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
from sqlalchemy import delete, select, text, update
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.types import utcnow
from guildbase.db.validation import optional_aware, positive, snowflake
from guildbase.errors import GuildbaseError, ValidationError
from guildbase.models.integrations import (
    ERROR_MAX_LENGTH,
    ITEM_ID_MAX_LENGTH,
    MAX_BACKOFF_SECONDS,
    TITLE_MAX_LENGTH,
    FeedItem,
    FetchOutcome,
    Integration,
    IntegrationDelivery,
    IntegrationItem,
    IntegrationRead,
    IntegrationSource,
)

__all__ = ["ChannelPoster", "FetchError", "IntegrationFetching", "check_target", "read_model"]

ChannelPoster = Callable[[IntegrationRead, FeedItem], Awaitable[object]]
"""The bot's side of a channel delivery: post one item to ``integration.channel_id``."""

MAX_ITEMS = 50
"""Items read per fetch (newest first); older ones in a long feed are not this fetch's concern."""

_REPO = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"

_CLAIM_SQL = text("""
INSERT INTO integration_item (integration_id, item_id, guild_id, title, url, published_at)
SELECT :integration_id, i.item_id, :guild_id, i.title, i.url, i.published_at
FROM unnest(CAST(:ids AS text[]), CAST(:titles AS text[]), CAST(:urls AS text[]), CAST(:published AS timestamptz[]))
     AS i(item_id, title, url, published_at)
ON CONFLICT (integration_id, item_id, guild_id) DO NOTHING
RETURNING item_id
""")


class FetchError(GuildbaseError):
    """A feed could not be fetched or read (the server's answer, the body, or the address)."""


def read_model(row: Integration) -> IntegrationRead:
    """The read model of a row: everything but the secret, which shows only as ``has_secret``."""
    data = row.model_dump(
        exclude={"webhook_url", "github_token", "created_by", "updated_by", "created_at", "updated_at"}
    )
    extra = {"has_webhook_url": row.webhook_url is not None, "has_github_token": row.github_token is not None}
    return IntegrationRead.model_validate({**data, **extra})


def check_target(
    source: IntegrationSource,
    url: str,
    *,
    delivery: IntegrationDelivery,
    channel_id: int | None,
    webhook_url: str | None,
    github_token: str | None,
) -> None:
    """The rules that tie a feed's fields together, checked before any write."""
    if source is IntegrationSource.GITHUB_RELEASES:
        if not re.match(_REPO, url):
            msg = f"must be owner/repo for GitHub releases, got {url[:40]!r}"
            raise ValidationError.single("url", "repository", msg)
    else:
        _http_url("url", url)
        if github_token is not None:
            raise ValidationError.single("github_token", "source", "must be empty: only GitHub releases take a token")
    if delivery is IntegrationDelivery.CHANNEL:
        if channel_id is None:
            raise ValidationError.single("channel_id", "required", "must be given when the feed posts to a channel")
        if webhook_url is not None:
            raise ValidationError.single("webhook_url", "delivery", "must be empty: this feed posts to a channel")
        return
    if channel_id is not None:
        raise ValidationError.single("channel_id", "delivery", "must be empty: this feed posts to a webhook")
    if webhook_url is None:
        raise ValidationError.single("webhook_url", "required", "must be given when the feed posts to a webhook")
    _http_url("webhook_url", webhook_url, shown=False)  # never echoed: its token is in it
    if delivery is IntegrationDelivery.DISCORD_WEBHOOK and "/api/webhooks/" not in webhook_url:
        msg = "must be a Discord webhook URL (…/api/webhooks/ID/TOKEN)"
        raise ValidationError.single("webhook_url", "discord_webhook", msg)


def _http_url(field: str, value: str, *, shown: bool = True) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        got = f", got {value[:40]!r}" if shown else ""
        raise ValidationError.single(field, "url", f"must be an http or https URL with a host{got}")


async def _public_only(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to an address of this machine's networks."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as error:
        msg = f"the host {host!r} could not be resolved ({error})"
        raise FetchError(msg) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            msg = f"the host {host!r} is a private or local address ({address}); feeds must be public"
            raise FetchError(msg)


def _when(parsed: Any) -> datetime | None:
    return None if parsed is None else datetime.fromtimestamp(mktime(parsed), tz=UTC)


def parse_feed(body: bytes) -> list[FeedItem]:
    """RSS 2.0 or Atom items, newest first as the feed lists them; a body that is no feed is an error."""
    parsed = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        msg = f"the answer is not an RSS or Atom feed ({type(parsed.bozo_exception).__name__})"
        raise FetchError(msg)
    items = []
    for entry in parsed.entries[:MAX_ITEMS]:
        item_id = entry.get("id") or entry.get("link") or entry.get("title")
        if not item_id:
            continue
        published = _when(entry.get("published_parsed") or entry.get("updated_parsed"))
        items.append(
            FeedItem(
                item_id=str(item_id)[:ITEM_ID_MAX_LENGTH],
                title=str(entry.get("title", ""))[:TITLE_MAX_LENGTH],
                url=entry.get("link"),
                published_at=published,
                summary=str(entry.get("summary", ""))[:500],
            )
        )
    return items


def parse_releases(payload: Any) -> list[FeedItem]:
    """GitHub's ``/releases`` answer (newest first), drafts left out."""
    if not isinstance(payload, list):
        raise FetchError("the answer is not a list of GitHub releases")
    items = []
    for release in payload[:MAX_ITEMS]:
        if not isinstance(release, dict) or release.get("draft") or "id" not in release:
            continue
        published = release.get("published_at")
        items.append(
            FeedItem(
                item_id=str(release["id"]),
                title=str(release.get("name") or release.get("tag_name") or "")[:TITLE_MAX_LENGTH],
                url=release.get("html_url"),
                published_at=datetime.fromisoformat(published) if isinstance(published, str) else None,
                summary=str(release.get("body") or "")[:500],
            )
        )
    return items


class IntegrationFetching(Controller):
    """The fetch half of ``db.integrations`` (see the module docstring for the steps)."""

    async def fetch(
        self, guild_id: int, integration_id: int, *, post: ChannelPoster | None = None, now: datetime | None = None
    ) -> FetchOutcome:
        """Fetch one feed now and deliver what is new; the job handler calls this every interval.

        ``post`` performs channel deliveries (the bot gives it); webhook
        deliveries are posted here. Failures are recorded on the feed (back-off)
        and reported in the outcome, never raised: a feed that is down must not
        fail its job over and over.

        Raises:
            ValidationError: bad IDs, or a channel feed fetched without ``post``.
        """
        guild_id = snowflake("guild_id", guild_id)
        integration_id = positive("integration_id", integration_id)
        when = optional_aware("now", now) or utcnow()
        if post is not None and not callable(post):
            raise ValidationError.single(
                "post", "callable", f"must be an async function or None, got {type(post).__name__}"
            )
        async with self._read() as session:
            found = await session.scalar(
                select(Integration).where(
                    col(Integration.guild_id) == guild_id, col(Integration.integration_id) == integration_id
                )
            )
            # A detached copy: the fetch outlives this session (HTTP in between, several short transactions).
            row = None if found is None else Integration.model_validate(found.model_dump())
        if row is None or not row.is_enabled or (row.retry_after is not None and row.retry_after > when):
            return FetchOutcome(integration_id=integration_id, status="skipped")
        if row.delivery is IntegrationDelivery.CHANNEL and post is None:
            msg = "must be given: this feed posts to a channel, which only the bot can do"
            raise ValidationError.single("post", "required", msg)
        feed = read_model(row)
        try:
            answer = await self._request(row)
        except FetchError as failed:
            await self._failed(row, str(failed), when)
            return FetchOutcome(integration_id=integration_id, status="failed", error=str(failed))
        if answer is None:
            await self._succeeded(row, when, etag=row.etag, last_modified=row.last_modified, newest=row.last_item_id)
            return FetchOutcome(integration_id=integration_id, status="not_modified")
        items, etag, last_modified = answer
        first = row.last_fetched_at is None
        claimed = await self._claim(guild_id, integration_id, items)
        posted: list[FeedItem] = []
        error: str | None = None
        if not first:
            for item in reversed([i for i in items if i.item_id in claimed]):  # oldest first
                try:
                    await self._deliver(row, feed, item, post)
                except Exception as failure:  # noqa: BLE001 - any delivery failure releases the item for a retry
                    error = f"posting {item.item_id!r} failed: {type(failure).__name__}: {failure}"
                    await self._release(integration_id, sorted(claimed))  # the failed item and every one after it
                    break
                claimed.discard(item.item_id)
                posted.append(item)
        newest = items[0].item_id if items else row.last_item_id
        if error is None:
            await self._succeeded(row, when, etag=etag, last_modified=last_modified, newest=newest)
        else:
            await self._failed(row, error, when)
        status = "first_fetch" if first else ("failed" if error else "posted")
        return FetchOutcome(integration_id=integration_id, status=status, posted=posted, seen=len(items), error=error)

    async def _request(self, row: Integration) -> tuple[list[FeedItem], str | None, str | None] | None:
        """The feed's items and validators, or None for "not modified"."""
        settings = self._db.settings
        headers = {"User-Agent": "guildbase-integrations/1"}
        if row.etag:
            headers["If-None-Match"] = row.etag
        if row.last_modified:
            headers["If-Modified-Since"] = row.last_modified
        url = row.url
        if row.source is IntegrationSource.GITHUB_RELEASES:
            url = f"{settings.github_api_url.rstrip('/')}/repos/{row.url}/releases?per_page={MAX_ITEMS}"
            headers["Accept"] = "application/vnd.github+json"
            if row.github_token:
                headers["Authorization"] = f"Bearer {row.github_token}"
        answer = await self._get(url, headers)
        if answer is None:
            return None
        body, etag, modified = answer
        if row.source is IntegrationSource.GITHUB_RELEASES:
            try:
                items = parse_releases(json.loads(body))
            except ValueError:
                raise FetchError("the answer is not JSON") from None
        else:
            items = parse_feed(body)
        return items, etag, modified

    async def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes, str | None, str | None] | None:
        """GET ``url`` with a bounded body: (body, ETag, Last-Modified), or None on 304."""
        settings = self._db.settings
        await _public_only(url, allow_private=settings.integrations_allow_private_hosts)
        timeout = httpx.Timeout(settings.integrations_timeout_seconds)
        try:
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code == httpx.codes.NOT_MODIFIED:
                    return None
                if response.status_code != httpx.codes.OK:
                    raise FetchError(f"the server answered {response.status_code} {response.reason_phrase}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > settings.integrations_max_bytes:
                        raise FetchError(f"the answer is larger than {settings.integrations_max_bytes} bytes")
                return bytes(body), response.headers.get("ETag"), response.headers.get("Last-Modified")
        except httpx.HTTPError as error:
            raise FetchError(f"the request failed ({type(error).__name__}: {error})") from None

    async def _claim(self, guild_id: int, integration_id: int, items: Sequence[FeedItem]) -> set[str]:
        if not items:
            return set()
        params = {
            "integration_id": integration_id,
            "guild_id": guild_id,
            "ids": [i.item_id for i in items],
            "titles": [i.title for i in items],
            "urls": [i.url for i in items],
            "published": [i.published_at for i in items],
        }
        async with self._write() as session:
            return set((await session.scalars(_CLAIM_SQL, params)).all())

    async def _release(self, integration_id: int, item_ids: list[str]) -> None:
        async with self._write() as session:
            await session.execute(
                delete(IntegrationItem).where(
                    col(IntegrationItem.integration_id) == integration_id, col(IntegrationItem.item_id).in_(item_ids)
                )
            )

    async def _deliver(
        self, row: Integration, feed: IntegrationRead, item: FeedItem, post: ChannelPoster | None
    ) -> None:
        if row.delivery is IntegrationDelivery.CHANNEL or row.webhook_url is None:
            if post is None:
                raise FetchError("no channel poster was given")
            await post(feed, item)
            return
        await _public_only(row.webhook_url, allow_private=self._db.settings.integrations_allow_private_hosts)
        line = f"**{item.title}**" + (f"\n{item.url}" if item.url else "")
        if row.delivery is IntegrationDelivery.DISCORD_WEBHOOK:
            body: dict[str, Any] = {"content": line[:2000], "allowed_mentions": {"parse": []}}
        else:
            body = {"integration": row.name, "item": item.model_dump(mode="json")}
        timeout = httpx.Timeout(self._db.settings.integrations_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(row.webhook_url, json=body)
        if response.status_code >= httpx.codes.MULTIPLE_CHOICES:
            msg = f"the webhook answered {response.status_code}"
            raise FetchError(msg)

    async def _succeeded(
        self, row: Integration, when: datetime, *, etag: str | None, last_modified: str | None, newest: str | None
    ) -> None:
        async with self._write() as session:
            await session.execute(
                update(Integration)
                .where(col(Integration.integration_id) == row.integration_id)
                .values(
                    etag=etag,
                    last_modified=last_modified,
                    last_item_id=newest,
                    last_fetched_at=when,
                    failure_count=0,
                    retry_after=None,
                    last_error=None,
                )
            )

    async def _failed(self, row: Integration, error: str, when: datetime) -> None:
        """Count the failure and pause: the interval doubled per failure in a row, at most ``MAX_BACKOFF_SECONDS``."""
        failures = row.failure_count + 1
        pause = min(row.interval_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        async with self._write() as session:
            await session.execute(
                update(Integration)
                .where(col(Integration.integration_id) == row.integration_id)
                .values(
                    failure_count=Integration.failure_count + 1,
                    retry_after=when + timedelta(seconds=pause),
                    last_error=error[:ERROR_MAX_LENGTH],
                )
            )
