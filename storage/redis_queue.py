"""The delivery queue on Redis: several bot processes share one outbox, each chat still in order.

Design
======

A "chat" below is a chat lane (`OutboxMessage.lane`): a resident's chat, or one report's posts in a staff
chat (``chat_key``). Per-chat order and "only the head of a chat is in play" live in plain Redis
structures; the hand-off of a chat's head to exactly one worker, its lease, and taking it over from a
worker that died use a Redis Stream with a consumer group. All keys start with ``{namespace}:`` (``P`` below):

* ``P:seq`` - INCR counter: message ids (unique, increasing across all processes).
* ``P:m:{id}`` - hash of one pending message: ``chat``, ``prio``, ``body`` (the message as JSON),
  ``attempts``, ``due`` (microseconds since the epoch, UTC) and ``error`` (last failure).
* ``P:chat:{messenger}:{chat_id}[:{lane}]`` - list of the chat's pending ids, oldest first. Its first element is
  the head; only the head is ever handed out, so a chat's messages go strictly one after another, and a
  head that backs off blocks its own chat only.
* ``P:due`` - sorted set: chat -> due time of its head, for idle chats whose head is not due yet.
* ``P:ready`` - sorted set of idle chats whose head is due: score ``-priority``, member
  ``{zero-padded head id}|{chat}``, so its order is exactly "priority desc, then id".
* ``P:handoff`` - stream with consumer group ``workers``; one entry ``{chat, id}`` per head being
  delivered. The group's pending list (PEL) is the lease table: who holds the head and since when.
* ``P:inflight`` - hash head id -> its stream entry id.
* ``P:pending`` (set of ids, ``pending_count``) and ``P:failed`` (hash id -> JSON record with the
  message, attempts, error and time; ``failed_count``, ``list_failed``).

Invariant: a chat with pending messages is in exactly one place: ``P:due``, ``P:ready``, or one entry
of ``P:handoff`` (leased to one consumer). So two workers never hold the same chat, and a chat's next
message is scheduled only when its head is settled, which keeps per-chat order.

``claim_due(now, limit)``: (1) chats of ``P:due`` due at ``now`` move to ``P:ready``; (2) XAUTOCLAIM
takes over entries whose holder has been idle longer than ``lease_seconds`` (it died or hung): the
same head, delivered once more; (3) the best ``limit`` chats of ``P:ready`` are XADDed and read with
XREADGROUP in the same script, so they enter this consumer's PEL atomically. Residents' answers
(higher priority) thus overtake any backlog of staff-chat posts.

``mark_sent`` / ``mark_retry`` / ``mark_failed`` settle the head only if its entry is still in the PEL
*of this consumer* (XPENDING); otherwise another consumer took it over and will deliver and settle it,
so the call is ignored. Settling XACKs and XDELs the entry; sent/failed pops the head and schedules
the chat's next message; retry keeps the head and puts the chat back in ``P:due`` at the new time.

Every step is one Lua script, hence atomic: two consumers never get the same head, and a crash at any
point leaves every chat in exactly one of the states above, so nothing is lost. Delivery is
at-least-once: a worker dying between sending and acknowledging causes one duplicate (the head is sent
again after the lease) and no more, since a head has only one lease at a time.

All consumers should use the same ``lease_seconds``, longer than one send takes. The scripts build key
names at run time, so this needs a standalone Redis (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from bot.core.models import Button, Messenger
from bot.core.outbox import OutboxKind, OutboxMessage, Role

GROUP = "workers"
PROMOTE_BATCH = 1000
ERROR_LIMIT = 500

# Shared Lua: ARGV[1] is always the key prefix (the namespace).
_LUA_COMMON = """
local P = ARGV[1]
local G = 'workers'
local S = P .. ':handoff'

-- The chat's head becomes idle again: due now or later.
local function schedule_head(chat)
  local head = redis.call('LINDEX', P .. ':chat:' .. chat, 0)
  if head then
    redis.call('ZADD', P .. ':due', redis.call('HGET', P .. ':m:' .. head, 'due'), chat)
  end
end

local function enqueue_one(chat, prio, body, attempts, due)
  local id = redis.call('INCR', P .. ':seq')
  redis.call('HSET', P .. ':m:' .. id, 'chat', chat, 'prio', prio, 'body', body,
             'attempts', attempts, 'due', due, 'error', '')
  redis.call('SADD', P .. ':pending', id)
  if redis.call('RPUSH', P .. ':chat:' .. chat, id) == 1 then
    redis.call('ZADD', P .. ':due', due, chat)
  end
  return id
end

-- Acknowledge the hand-off of message `id` if `consumer` holds it; false if it does not (any more).
local function settle(consumer, id)
  local eid = redis.call('HGET', P .. ':inflight', id)
  if not eid then return false end
  local ok, p = pcall(redis.call, 'XPENDING', S, G, eid, eid, 1, consumer)
  if not ok or #p == 0 then return false end
  redis.call('XACK', S, G, eid)
  redis.call('XDEL', S, eid)
  redis.call('HDEL', P .. ':inflight', id)
  return true
end

-- Remove the (settled) head `id` from its chat and schedule the chat's next message.
local function drop_head(id)
  local chat = redis.call('HGET', P .. ':m:' .. id, 'chat')
  redis.call('LREM', P .. ':chat:' .. chat, 1, id)
  redis.call('DEL', P .. ':m:' .. id)
  redis.call('SREM', P .. ':pending', id)
  schedule_head(chat)
end
"""

# ARGV: prefix, then (chat, prio, body, attempts, due) per message. Returns the new ids.
_LUA_ENQUEUE = (
    _LUA_COMMON
    + """
local ids = {}
for i = 2, #ARGV, 5 do
  table.insert(ids, enqueue_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]))
end
return ids
"""
)

# ARGV: prefix, now (us), batch. Moves chats whose head is due into P:ready; returns how many.
_LUA_PROMOTE = (
    _LUA_COMMON
    + """
local chats = redis.call('ZRANGEBYSCORE', P .. ':due', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, chat in ipairs(chats) do
  redis.call('ZREM', P .. ':due', chat)
  local head = redis.call('LINDEX', P .. ':chat:' .. chat, 0)
  if head then
    local prio = tonumber(redis.call('HGET', P .. ':m:' .. head, 'prio'))
    local member = string.rep('0', 20 - #head) .. head .. '|' .. chat
    redis.call('ZADD', P .. ':ready', string.format('%d', -prio), member)
  end
end
return #chats
"""
)

# ARGV: prefix, consumer, limit, lease (ms). Returns flat (id, body, attempts) triples.
_LUA_TAKE = (
    _LUA_COMMON
    + """
local consumer, limit, lease = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out = {}
local taken = 0
if redis.call('EXISTS', S) == 0 then
  redis.pcall('XGROUP', 'CREATE', S, G, '0', 'MKSTREAM')
end

local function take(entry)
  local eid, fields = entry[1], entry[2]
  local id = nil
  if fields then
    for i = 1, #fields, 2 do
      if fields[i] == 'id' then id = fields[i + 1] end
    end
  end
  local m = id and redis.call('HMGET', P .. ':m:' .. id, 'body', 'attempts')
  if not id or not m[1] or redis.call('HGET', P .. ':inflight', id) ~= eid then
    -- A stale entry (impossible while the invariant holds): drop it rather than deliver it.
    redis.call('XACK', S, G, eid)
    redis.call('XDEL', S, eid)
    return
  end
  table.insert(out, id)
  table.insert(out, m[1])
  table.insert(out, m[2])
  taken = taken + 1
end

-- Heads whose holder stopped settling them within the lease.
local cursor = '0-0'
repeat
  local r = redis.call('XAUTOCLAIM', S, G, consumer, lease, cursor, 'COUNT', limit - taken)
  cursor = r[1]
  for _, e in ipairs(r[2]) do take(e) end
until cursor == '0-0' or taken >= limit

-- The best ready chats: hand them off through the stream, straight into this consumer's PEL.
while taken < limit do
  local best = redis.call('ZRANGE', P .. ':ready', 0, limit - taken - 1)
  if #best == 0 then break end
  local added = 0
  for _, member in ipairs(best) do
    redis.call('ZREM', P .. ':ready', member)
    local head, chat = string.match(member, '^0*(%d+)|(.+)$')
    local current = redis.call('LINDEX', P .. ':chat:' .. chat, 0) == head
    if current and redis.call('HEXISTS', P .. ':inflight', head) == 0 then
      local eid = redis.call('XADD', S, '*', 'chat', chat, 'id', head)
      redis.call('HSET', P .. ':inflight', head, eid)
      added = added + 1
    end
  end
  if added > 0 then
    local r = redis.call('XREADGROUP', 'GROUP', G, consumer, 'COUNT', added, 'STREAMS', S, '>')
    if r then
      for _, e in ipairs(r[1][2]) do take(e) end
    end
  end
end
return out
"""
)

# ARGV: prefix, consumer, id. Returns 1 if settled, 0 if this consumer does not hold it.
_LUA_SENT = (
    _LUA_COMMON
    + """
if not settle(ARGV[2], ARGV[3]) then return 0 end
drop_head(ARGV[3])
return 1
"""
)

# ARGV: prefix, consumer, id, at (us), error.
_LUA_RETRY = (
    _LUA_COMMON
    + """
local id = ARGV[3]
if not settle(ARGV[2], id) then return 0 end
local key = P .. ':m:' .. id
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'due', ARGV[4], 'error', ARGV[5])
redis.call('ZADD', P .. ':due', ARGV[4], redis.call('HGET', key, 'chat'))
return 1
"""
)

# ARGV: prefix, consumer, id, at (us), error, at (ISO text), then notices as in _LUA_ENQUEUE.
# Returns {settled, notice ids...}.
_LUA_FAILED = (
    _LUA_COMMON
    + """
local id = ARGV[3]
if not settle(ARGV[2], id) then return {0} end
local key = P .. ':m:' .. id
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
local record = cjson.encode({id = tonumber(id), body = redis.call('HGET', key, 'body'),
                             attempts = attempts, error = ARGV[5], at = ARGV[6]})
redis.call('HSET', P .. ':failed', id, record)
drop_head(id)
local out = {1}
for i = 7, #ARGV, 5 do
  table.insert(out, enqueue_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]))
end
return out
"""
)

# ARGV: prefix, consumer. Leave the consumer group if holding nothing.
_LUA_FORGET = (
    _LUA_COMMON
    + """
local ok, p = pcall(redis.call, 'XPENDING', S, G, '-', '+', 1, ARGV[2])
if ok and #p == 0 then redis.pcall('XGROUP', 'DELCONSUMER', S, G, ARGV[2]) end
return 1
"""
)


def _utc(moment: datetime) -> datetime:
    """An aware UTC moment; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime) -> str:
    """A moment as whole microseconds since the epoch (text, so Lua never rounds it)."""
    delta = _utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _from_micros(text: str) -> datetime:
    """Inverse of `_micros` (accepts Redis's float formatting of scores)."""
    micros = int(text) if text.lstrip("-").isdigit() else int(float(text))
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def chat_key(message: OutboxMessage, report_lanes: bool = False) -> str:
    """The chat (and, with `report_lanes`, the lane: see `OutboxMessage.lane`) as text: `tg:123`, `tg:-100:42`."""
    key = f"{message.messenger.value}:{message.chat_id}"
    lane = message.lane(report_lanes)
    return f"{key}:{lane}" if lane else key


def dump_message(message: OutboxMessage) -> str:
    """The message's content as JSON (id and attempts are kept beside it)."""
    return json.dumps(
        {
            "messenger": message.messenger.value,
            "chat_id": message.chat_id,
            "kind": message.kind.value,
            "text": message.text,
            "photos": list(message.photos),
            "buttons": [[[b.label, b.action] for b in row] for row in message.buttons],
            "report_id": message.report_id,
            "link_to_report": message.link_to_report,
            "priority": message.priority,
            "extra": message.extra,
            "role": message.role.value,
            "reply_to_card": message.reply_to_card,
        },
        ensure_ascii=False,
    )


def load_message(body: str, message_id: int | None = None, attempts: int = 0) -> OutboxMessage:
    """Inverse of `dump_message`."""
    data: dict[str, Any] = json.loads(body)
    return OutboxMessage(
        messenger=Messenger(data["messenger"]),
        chat_id=int(data["chat_id"]),
        kind=OutboxKind(data["kind"]),
        text=data["text"],
        photos=tuple(data["photos"]),
        buttons=tuple(tuple(Button(label, action) for label, action in row) for row in data["buttons"]),
        report_id=data["report_id"],
        link_to_report=bool(data["link_to_report"]),
        priority=int(data["priority"]),
        id=message_id,
        attempts=attempts,
        extra=dict(data["extra"]),
        role=Role(data.get("role", "")),
        reply_to_card=bool(data.get("reply_to_card", False)),
    )


def _message_args(messages: Sequence[OutboxMessage], due: str, report_lanes: bool) -> list[str]:
    args: list[str] = []
    for m in messages:
        if not isinstance(m.priority, int) or isinstance(m.priority, bool):
            raise TypeError(f"priority must be an int, not {m.priority!r}")
        args += [chat_key(m, report_lanes), str(m.priority), dump_message(m), str(m.attempts), due]
    return args


class RedisQueue:
    """The durable delivery queue shared by several processes; same methods as the SQLite outbox.

    Each instance is one consumer of the group: what `claim_due` returns is leased to it until it
    calls `mark_sent`, `mark_retry` or `mark_failed`, or until `lease_seconds` pass without that and
    another consumer takes the chat over.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str = "priemnaya",
        consumer: str | None = None,
        lease_seconds: float = 30.0,
        partitions: int = 16,
        owns_client: bool = False,
        report_lanes: bool = False,
    ) -> None:
        """Use `client` (created with `decode_responses=True`); see the module docstring for the keys.

        `report_lanes`: a staff chat gets a lane per report (`OutboxMessage.lane`) instead of one.

        `partitions` is accepted for configuration compatibility and validated, but unused: order lives
        in per-chat lists and the ready set, so one hand-off stream serves every chat without blocking.
        """
        if not namespace or any(c in namespace for c in "*?[]{} "):
            raise ValueError(f"bad namespace {namespace!r}")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._redis = client
        self._owns_client = owns_client
        self.namespace = namespace
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.lease_seconds = lease_seconds
        self.partitions = partitions
        self.report_lanes = report_lanes
        self._enqueue = client.register_script(_LUA_ENQUEUE)
        self._promote = client.register_script(_LUA_PROMOTE)
        self._take = client.register_script(_LUA_TAKE)
        self._sent = client.register_script(_LUA_SENT)
        self._retry = client.register_script(_LUA_RETRY)
        self._failed = client.register_script(_LUA_FAILED)
        self._forget = client.register_script(_LUA_FORGET)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        namespace: str = "priemnaya",
        consumer: str | None = None,
        lease_seconds: float = 30.0,
        partitions: int = 16,
        report_lanes: bool = False,
    ) -> RedisQueue:
        """Connect to the Redis at `url` (checking that it answers) and return a consumer of the queue."""
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return cls(
            client,
            namespace=namespace,
            consumer=consumer,
            lease_seconds=lease_seconds,
            partitions=partitions,
            report_lanes=report_lanes,
            owns_client=True,
        )

    async def close(self) -> None:
        """Leave the consumer group if holding nothing, and close the connection if we opened it."""
        try:
            await self._forget(args=[self.namespace, self.consumer])
        finally:
            if self._owns_client:
                await self._redis.aclose()

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Queue messages, due now; each gets its id (unique, increasing) set on the object."""
        if not messages:
            return
        args = _message_args(messages, _micros(datetime.now(UTC)), self.report_lanes)
        ids = await self._enqueue(args=[self.namespace, *args])
        for message, new_id in zip(messages, ids, strict=True):
            message.id = int(new_id)

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The head of each chat that is due at `now` (highest priority first), leased to this consumer.

        Heads whose holder's lease ran out are taken over first (they were due already), then the best
        ready heads. A leased head is not returned again, to anybody, until it is settled or its lease
        runs out.
        """
        if limit <= 0:
            return []
        when = _micros(now)
        while int(await self._promote(args=[self.namespace, when, PROMOTE_BATCH])) >= PROMOTE_BATCH:
            pass
        lease_ms = max(1, round(self.lease_seconds * 1000))
        flat = await self._take(args=[self.namespace, self.consumer, limit, lease_ms])
        taken = [load_message(flat[i + 1], int(flat[i]), int(flat[i + 2])) for i in range(0, len(flat), 3)]
        taken.sort(key=lambda m: (-m.priority, m.id or 0))
        return taken

    async def mark_sent(self, message: OutboxMessage, message_ids: Sequence[int]) -> None:
        """Delivered: remove it and let the chat's next message go.

        `message_ids` (the messenger's ids) are not kept here: linking staff-chat messages to reports
        is the report store's business. Ignored if this consumer no longer holds the message.
        """
        await self._sent(args=[self.namespace, self.consumer, self._id(message)])

    async def mark_retry(self, message: OutboxMessage, at: datetime, error: str) -> None:
        """Not delivered this time: count the attempt; the message stays its chat's head, due at `at`."""
        await self._retry(args=[self.namespace, self.consumer, self._id(message), _micros(at), error[:ERROR_LIMIT]])

    async def mark_failed(
        self, message: OutboxMessage, error: str, at: datetime, notices: Sequence[OutboxMessage] = ()
    ) -> None:
        """Refused for good: move it to the failed list with `error`, and queue `notices` (due at `at`).

        Notices are queued only if this consumer still held the message, in the same atomic step.
        """
        args = [self.namespace, self.consumer, self._id(message), _micros(at), error[:ERROR_LIMIT]]
        args += [_utc(at).isoformat(timespec="microseconds"), *_message_args(notices, _micros(at), self.report_lanes)]
        out = await self._failed(args=args)
        if int(out[0]) == 1:
            for notice, new_id in zip(notices, out[1:], strict=True):
                notice.id = int(new_id)

    async def pending_count(self) -> int:
        """How many messages wait for delivery (including those being sent now)."""
        return int(await self._redis.scard(f"{self.namespace}:pending"))

    async def failed_count(self) -> int:
        """How many messages were refused for good."""
        return int(await self._redis.hlen(f"{self.namespace}:failed"))

    async def list_failed(self) -> list[tuple[OutboxMessage, str, datetime]]:
        """The failed messages, oldest first, with their error and when they failed."""
        raw = await self._redis.hgetall(f"{self.namespace}:failed")
        records = sorted((json.loads(v) for v in raw.values()), key=lambda r: int(r["id"]))
        return [
            (
                load_message(r["body"], int(r["id"]), int(r["attempts"])),
                str(r["error"]),
                datetime.fromisoformat(r["at"]),
            )
            for r in records
        ]

    @staticmethod
    def _id(message: OutboxMessage) -> str:
        if message.id is None:
            raise ValueError("the message has no id: it was not queued")
        return str(message.id)
