"""The room store: what a lecture room shares across every worker (and pod) that serves it.

A *room* is one presenter secret's audience. Its state is small and lives in a store every worker
reaches: the presenter's current view (page + query string) with a version number, whether the room
may explore freely, a "bring everyone back" counter, the followers seen recently, the open live
question and its anonymous answers, and heavy results shared by content key.

Two implementations with one interface (:class:`RoomStore`):

* :class:`RedisRoomStore`: Redis (Debian's ``redis-server`` that ``make classroom`` starts on
  loopback, or any server named by ``DASHBOARD_REDIS_URL``); changes are pushed on one pub/sub
  channel, so a worker needs one subscriber thread for all its sessions;
* :class:`InProcessRoomStore`: a dict behind a lock, for one process (``make run``, tests).

Every key expires (:data:`ROOM_TTL_S`, :data:`ANSWER_TTL_S`, the result's own TTL), so a store that
outlives a lecture empties itself. A store that cannot be reached raises :class:`RoomUnavailable`
(one sentence, a :class:`core.errors.UserError`); callers degrade to "not following".

No Streamlit here: ``dashboard/follow.py`` is the page side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from core.errors import UserError, quote

ROOM_TTL_S = 12 * 3600  # a room's state outlives a lecture by a few hours, then expires
ANSWER_TTL_S = 2 * 3600
FOLLOWER_WINDOW_S = 30.0  # a follower not seen for this long is not counted
MAX_RESULT_BYTES = 32 << 20  # a shared heavy result larger than this stays in its worker
MAX_VIEW_BYTES = 16 << 10  # a view (page + query string) larger than this is not published
MAX_ANSWER_CHARS = 200
CHANNEL = "cnnvis:rooms"  # pub/sub: the id of the room that changed
PREFIX = "cnnvis:room:"
SOCKET_TIMEOUT_S = 1.0  # a stuck store costs a page at most about this long, once (see RedisRoomStore)
RETRY_AFTER_S = 3.0  # after a failure, calls fail fast for this long instead of waiting again


class RoomUnavailable(UserError):
    """The room store cannot be reached; the message says what still works."""


UNAVAILABLE = ("The room store is not reachable, so following the lecturer is paused: every page still works "
               "on its own, and following resumes by itself when the store is back.")


def room_id(secret: str) -> str:
    """The public name of the room a presenter secret opens (students' links may carry it; the secret
    cannot be recovered from it)."""
    return hmac.new(secret.encode(), b"cnnvis-dashboard room", hashlib.sha256).hexdigest()[:12]


def secret_matches(given: str, secrets: Iterable[str]) -> str | None:
    """The room id whose secret equals ``given`` (constant-time comparison of every candidate), or None."""
    found = None
    given_b = given.encode()[:256]
    for secret in secrets:
        if hmac.compare_digest(given_b, secret.encode()) and found is None:
            found = room_id(secret)
    return found


def anonymous_voter(room: str, token: str) -> str:
    """An answerer's id in a room: a hash of a per-browser token, never the token, never a name."""
    return hashlib.sha256(f"{room}\0{token}".encode()).hexdigest()[:16]


def normalise_view(page: str, query: dict[str, list[str]]) -> dict:
    """A view as it is stored and compared: the page's url path and the sorted query string."""
    view = {"page": str(page), "query": {str(k): [str(v) for v in vs] for k, vs in sorted(query.items())}}
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise UserError(f"this view's link is longer than {MAX_VIEW_BYTES // 1024} kB, so the room cannot follow "
                        f"it: {quote(page)}")
    return view


class RoomStore:
    """The interface; every method may raise :class:`RoomUnavailable`."""

    kind = "abstract"

    # --- the presenter's view ------------------------------------------------------------------
    def state(self, room: str) -> dict:
        """{"view": {...} | None, "version": int, "epoch": str, "free": bool, "recall": int, "question": {...} | None}

        ``epoch`` names one life of the room's record: a store restarted empty (or a room expired) starts
        its versions from 1 again under a new epoch, so a follower compares (epoch, version), never the
        version alone (version 1 of the new life is not the version 1 it already loaded)."""
        raise NotImplementedError

    def publish_view(self, room: str, view: dict) -> int:
        """Store the presenter's view; returns the new version (every follower is woken)."""
        return self._update(room, view=view)

    def set_free(self, room: str, free: bool) -> int:
        return self._update(room, free=free)

    def recall(self, room: str) -> int:
        """"Bring everyone back": stop free exploring, and every student follows again."""
        return self._update(room, free=False, recall=True)

    # --- followers -----------------------------------------------------------------------------
    def touch_followers(self, room: str, ids: Iterable[str], now: float | None = None) -> None:
        raise NotImplementedError

    def drop_followers(self, room: str, ids: Iterable[str]) -> None:
        raise NotImplementedError

    def count_followers(self, room: str, now: float | None = None) -> int:
        raise NotImplementedError

    # --- live questions ------------------------------------------------------------------------
    def open_question(self, room: str, question: dict) -> str:
        """Open ``question`` (JSON-able, without "id"); returns its id. Any previous one closes."""
        qid = hashlib.sha256(f"{room}{time.time_ns()}".encode()).hexdigest()[:10]
        self._update(room, question={**question, "id": qid, "revealed": False})
        return qid

    def reveal_question(self, room: str, qid: str) -> None:
        question = self.state(room)["question"]
        if question and question.get("id") == qid:
            self._update(room, question={**question, "revealed": True})

    def close_question(self, room: str) -> None:
        self._update(room, question=None)

    def answer(self, room: str, qid: str, voter: str, answer: Any) -> bool:
        """Record ``voter``'s answer; False when this voter has already answered (the first one counts)."""
        raise NotImplementedError

    def answers(self, room: str, qid: str) -> list:
        raise NotImplementedError

    # --- heavy results shared by content key ---------------------------------------------------
    def put_result(self, key: str, data: bytes, ttl_s: float) -> bool:
        """Share ``data`` under ``key`` for ``ttl_s`` seconds; False (not stored) above MAX_RESULT_BYTES."""
        raise NotImplementedError

    def get_result(self, key: str) -> bytes | None:
        raise NotImplementedError

    def claim(self, key: str, owner: str, ttl_s: float) -> bool:
        """True for the first caller to claim ``key`` (it computes; the others wait for put_result)."""
        raise NotImplementedError

    def release(self, key: str, owner: str) -> None:
        raise NotImplementedError

    # --- changes -------------------------------------------------------------------------------
    def listen(self, on_change: Callable[[str | None], None], stop: threading.Event,
               on_tick: Callable[[], None] | None = None, tick_s: float = 10.0) -> None:
        """Block until ``stop`` is set, calling ``on_change(room)`` for every change of a room's state
        (``None``: the connection came back, anything may have changed) and ``on_tick()`` every
        ``tick_s`` seconds. Meant for one thread per process."""
        raise NotImplementedError

    def ping(self) -> bool:
        raise NotImplementedError

    def _update(self, room: str, **fields) -> int:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# In one process
# ---------------------------------------------------------------------------------------------


def _empty_state() -> dict:
    return {"view": None, "version": 0, "epoch": "", "free": False, "recall": 0, "question": None}


def _new_epoch() -> str:
    return secrets.token_hex(6)


class InProcessRoomStore(RoomStore):
    """The same interface in one process (``make run``): a dict behind a lock, expiring like Redis."""

    kind = "in-process"

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._rooms: dict[str, dict] = {}
        self._followers: dict[str, dict[str, float]] = {}
        self._answers: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._results: dict[str, tuple[float, bytes]] = {}
        self._claims: dict[str, tuple[float, str]] = {}
        self._changes: list[str | None] = []
        self._seq = 0

    def state(self, room: str) -> dict:
        with self._lock:
            return json.loads(json.dumps(self._rooms.get(room) or _empty_state()))

    def _update(self, room: str, **fields) -> int:
        with self._lock:
            st = self._rooms.setdefault(room, _empty_state())
            st["epoch"] = st["epoch"] or _new_epoch()
            if "view" in fields:
                st["view"] = fields["view"]
            if "free" in fields:
                st["free"] = bool(fields["free"])
            if fields.get("recall"):
                st["recall"] += 1
            if "question" in fields:
                st["question"] = fields["question"]
            st["version"] += 1
            self._changes.append(room)
            self._seq += 1
            self._lock.notify_all()
            return st["version"]

    def touch_followers(self, room, ids, now=None):
        now = time.time() if now is None else now
        with self._lock:
            seen = self._followers.setdefault(room, {})
            for i in ids:
                seen[i] = now

    def drop_followers(self, room, ids):
        with self._lock:
            for i in ids:
                self._followers.get(room, {}).pop(i, None)

    def count_followers(self, room, now=None):
        now = time.time() if now is None else now
        with self._lock:
            seen = self._followers.get(room, {})
            for i in [i for i, t in seen.items() if t < now - FOLLOWER_WINDOW_S]:
                del seen[i]
            return len(seen)

    def answer(self, room, qid, voter, answer):
        with self._lock:
            created, given = self._answers.setdefault((room, qid), (time.time(), {}))
            if voter in given:
                return False
            given[voter] = answer
            return True

    def answers(self, room, qid):
        with self._lock:
            entry = self._answers.get((room, qid))
            if entry is None or entry[0] < time.time() - ANSWER_TTL_S:
                return []
            return list(entry[1].values())

    def put_result(self, key, data, ttl_s):
        if len(data) > MAX_RESULT_BYTES:
            return False
        with self._lock:
            self._results[key] = (time.time() + ttl_s, bytes(data))
            self._claims.pop(key, None)
            self._lock.notify_all()
        return True

    def get_result(self, key):
        with self._lock:
            entry = self._results.get(key)
            if entry is None or entry[0] < time.time():
                self._results.pop(key, None)
                return None
            return entry[1]

    def claim(self, key, owner, ttl_s):
        with self._lock:
            entry = self._claims.get(key)
            if entry is not None and entry[0] > time.time() and entry[1] != owner:
                return False
            self._claims[key] = (time.time() + ttl_s, owner)
            return True

    def release(self, key, owner):
        with self._lock:
            if self._claims.get(key, (0, None))[1] == owner:
                del self._claims[key]

    def listen(self, on_change, stop, on_tick=None, tick_s=10.0):
        seen = self._seq
        next_tick = time.monotonic() + tick_s
        while not stop.is_set():
            with self._lock:
                self._lock.wait_for(lambda seen=seen: self._seq != seen or stop.is_set(),
                                    timeout=max(0.0, min(1.0, next_tick - time.monotonic())))
                fresh = self._changes[len(self._changes) - (self._seq - seen):] if self._seq != seen else []
                seen = self._seq
                del self._changes[:-1000]  # bounded history
            for room in dict.fromkeys(fresh):
                on_change(room)
            if on_tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_s
                on_tick()

    def wake(self) -> None:
        """Let a waiting listen() return promptly after stop is set."""
        with self._lock:
            self._lock.notify_all()

    def ping(self):
        return True


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------


class RedisRoomStore(RoomStore):
    """Rooms in Redis. Short socket timeouts, and after a failure every call fails fast for
    :data:`RETRY_AFTER_S`, so a dead store costs a page run a second at most, once."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._redis = redis
        self._client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S,
                                            socket_connect_timeout=SOCKET_TIMEOUT_S, decode_responses=False)
        self._down_until = 0.0

    def _key(self, room: str, what: str) -> str:
        return f"{PREFIX}{room}:{what}"

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        if time.monotonic() < self._down_until:
            raise RoomUnavailable(UNAVAILABLE)
        try:
            return fn(self._client)
        except self._redis.RedisError:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            raise RoomUnavailable(UNAVAILABLE) from None

    def ping(self):
        try:
            return bool(self._call(lambda r: r.ping()))
        except RoomUnavailable:
            return False

    def state(self, room):
        raw = self._call(lambda r: r.hgetall(self._key(room, "state")))
        st = _empty_state()
        if raw:
            for k, v in raw.items():
                st[k.decode()] = json.loads(v)
        return st

    def _update(self, room, **fields):
        key = self._key(room, "state")

        def run(r):
            pipe = r.pipeline(transaction=True)
            pipe.hsetnx(key, "epoch", json.dumps(_new_epoch()))  # a new life of the record gets a new epoch
            mapping = {k: json.dumps(fields[k]) for k in ("view", "free", "question") if k in fields}
            if mapping:
                pipe.hset(key, mapping=mapping)
            if fields.get("recall"):
                pipe.hincrby(key, "recall", 1)
            pipe.hincrby(key, "version", 1)
            pipe.expire(key, ROOM_TTL_S)
            pipe.publish(CHANNEL, room)
            return pipe.execute()

        return int(self._call(run)[-3])

    def touch_followers(self, room, ids, now=None):
        ids = list(ids)
        if not ids:
            return
        now = time.time() if now is None else now
        key = self._key(room, "followers")

        def run(r):
            pipe = r.pipeline(transaction=False)
            pipe.zadd(key, {i: now for i in ids})
            pipe.expire(key, ROOM_TTL_S)
            pipe.execute()

        self._call(run)

    def drop_followers(self, room, ids):
        ids = list(ids)
        if ids:
            self._call(lambda r: r.zrem(self._key(room, "followers"), *ids))

    def count_followers(self, room, now=None):
        now = time.time() if now is None else now
        key = self._key(room, "followers")

        def run(r):
            pipe = r.pipeline(transaction=False)
            pipe.zremrangebyscore(key, "-inf", now - FOLLOWER_WINDOW_S)
            pipe.zcard(key)
            return pipe.execute()[1]

        return int(self._call(run))

    def answer(self, room, qid, voter, answer):
        key = self._key(room, f"answers:{qid}")

        def run(r):
            pipe = r.pipeline(transaction=True)
            pipe.hsetnx(key, voter, json.dumps(answer))
            pipe.expire(key, ANSWER_TTL_S)
            return pipe.execute()[0]  # not published: only the presenter reads answers (it polls)

        return bool(self._call(run))

    def answers(self, room, qid):
        raw = self._call(lambda r: r.hvals(self._key(room, f"answers:{qid}")))
        return [json.loads(v) for v in raw]

    def put_result(self, key, data, ttl_s):
        if len(data) > MAX_RESULT_BYTES:
            return False

        def run(r):
            pipe = r.pipeline(transaction=True)
            pipe.set(f"{PREFIX}result:{key}", bytes(data), px=max(1, int(ttl_s * 1000)))
            pipe.delete(f"{PREFIX}claim:{key}")
            pipe.execute()

        self._call(run)
        return True

    def get_result(self, key):
        return self._call(lambda r: r.get(f"{PREFIX}result:{key}"))

    def claim(self, key, owner, ttl_s):
        k = f"{PREFIX}claim:{key}"

        def run(r):  # a new claim, or our own claim renewed (the claimer's heartbeat), in one step on the server
            return r.eval("if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
                          "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) "
                          "return 1 end return 0", 1, k, owner, max(1, int(ttl_s * 1000)))

        return bool(self._call(run))

    def release(self, key, owner):
        k = f"{PREFIX}claim:{key}"
        # delete only our own claim (check-and-delete in one step on the server)
        self._call(lambda r: r.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                                    "end return 0", 1, k, owner))

    def listen(self, on_change, stop, on_tick=None, tick_s=10.0):
        """One pub/sub connection, reconnecting with a growing pause (capped at 5 s) while Redis is away;
        every reconnect reports ``on_change(None)`` so the caller resyncs its sessions."""
        pause = 0.2
        next_tick = time.monotonic() + tick_s
        first = True
        while not stop.is_set():
            pubsub = None
            try:
                client = self._redis.Redis.from_url(self.url, socket_connect_timeout=SOCKET_TIMEOUT_S,
                                                    socket_timeout=None, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                if not first:
                    self._down_until = 0.0
                    on_change(None)
                first, pause = False, 0.2
                while not stop.is_set():
                    msg = pubsub.get_message(timeout=min(1.0, max(0.05, next_tick - time.monotonic())))
                    if msg is not None and msg.get("type") == "message":
                        on_change(msg["data"].decode(errors="replace"))
                    if on_tick is not None and time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + tick_s
                        on_tick()
            except self._redis.RedisError:
                first = False
                self._down_until = time.monotonic() + RETRY_AFTER_S
                on_change(None)  # let sessions learn that following is paused
                stop.wait(pause)
                pause = min(5.0, pause * 2)
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick_s
                    on_tick()
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass


def open_store(url: str | None) -> RoomStore:
    """Redis at ``url`` (``redis://host:port/db``), else the in-process store."""
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise UserError(f"DASHBOARD_REDIS_URL must start with redis://, rediss:// or unix://, not {quote(url, 40)}")
        return RedisRoomStore(url)
    return InProcessRoomStore()


# ---------------------------------------------------------------------------------------------
# One computation per room
# ---------------------------------------------------------------------------------------------

RESULT_TTL_S = 2 * 3600  # a shared heavy result stays this long (a lecture's second half still finds it)
CLAIM_TTL_S = 20.0  # a claimer that stops renewing (killed, stuck) loses its claim after this long
SHARE_POLL_S = 0.25  # how often a waiting worker looks for the result


def share(store: RoomStore, key: str, compute: Callable[[], Any], owner: str,
          encode: Callable[[Any], bytes | None], decode: Callable[[bytes], Any],
          on_wait: Callable[[float], None] | None = None, ttl_s: float = RESULT_TTL_S,
          claim_ttl_s: float = CLAIM_TTL_S, poll_s: float = SHARE_POLL_S) -> Any:
    """``compute()`` once per room for ``key``: the result another worker put is decoded; else the first
    worker to claim the key computes (renewing its claim meanwhile), puts the encoded result (``encode``
    returns None, or the result is larger than MAX_RESULT_BYTES: not shared) and returns it; the others
    wait, calling ``on_wait(seconds waited)`` (which may raise to give up), until the result is there or
    the claim expired (its claimer died), and then claim it themselves. A store that cannot be reached,
    or a result that does not decode, is computed here: sharing saves work, it never costs an answer."""
    start = time.monotonic()
    while True:
        try:
            data = store.get_result(key)
            if data is not None:
                try:
                    return decode(data)
                except Exception:  # noqa: BLE001 - a damaged or foreign entry: compute it here
                    return compute()
            mine = store.claim(key, owner, claim_ttl_s)
            if mine:  # the claimer may have put its result (and dropped its claim) since we looked
                data = store.get_result(key)
                if data is not None:
                    store.release(key, owner)
                    try:
                        return decode(data)
                    except Exception:  # noqa: BLE001 - a damaged or foreign entry: compute it here
                        return compute()
        except RoomUnavailable:
            return compute()
        if mine:
            return _compute_claimed(store, key, compute, owner, encode, ttl_s, claim_ttl_s)
        if on_wait is not None:
            on_wait(time.monotonic() - start)
        time.sleep(poll_s)


def _compute_claimed(store, key, compute, owner, encode, ttl_s, claim_ttl_s):
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(claim_ttl_s / 3):
            try:
                store.claim(key, owner, claim_ttl_s)
            except RoomUnavailable:
                pass

    beat = threading.Thread(target=heartbeat, name="room-claim", daemon=True)
    beat.start()
    try:
        value = compute()
    except BaseException:
        done.set()
        try:
            store.release(key, owner)  # let a waiter take it over now, not after the claim's expiry
        except RoomUnavailable:
            pass
        raise
    done.set()
    try:
        data = encode(value)
    except Exception:  # noqa: BLE001 - a value that cannot be written down stays in this worker
        data = None
    try:
        if data is None or not store.put_result(key, data, ttl_s):
            store.release(key, owner)
    except RoomUnavailable:
        pass
    return value
