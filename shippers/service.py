"""The running shipper: a reader loop (follow -> frame -> pack -> queue) and a sender thread.

The reader (the calling thread) polls the followed files every `poll_interval_s`. The sender
thread takes the oldest unacknowledged batch, sends it, and checkpoints it once the collector
acked it; between batches it sends a heartbeat when one is due. On failure it moves to the next
collector, and after a whole round of failures waits an exponentially growing, jittered delay.
Stopping (`stop` event: Ctrl+C, SIGTERM, the Windows service stopping) is safe at any instant:
the state file only ever holds acknowledged or durably queued positions.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import IO

from shippers.checkpoint import BatchQueue, StateError, StateStore
from shippers.config import ShipperConfig
from shippers.follow import Follower
from shippers.heartbeat import HEARTBEAT_TAG, Heartbeat
from shippers.transport import Backoff, ForwardClient, RecordPacker, TransportError, new_chunk_id

log = logging.getLogger("bootwatch.shipper")

MB = 1 << 20
LOCK_FILE = "shipper.lock"
# Longest a sender waits for a batch before it looks at the heartbeat and stop flags again.
_IDLE_WAIT_S = 0.5


class StateDirLock:
    """An exclusive lock on the state folder: two shippers on one state would ship everything twice."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._handle: IO[bytes] = open(state_dir / LOCK_FILE, "a+b")  # noqa: SIM115 - held until release()
        try:
            if sys.platform == "win32":
                import msvcrt
                self._handle.seek(0)
                msvcrt.locking(self._handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.close()
            raise StateError(f"another shipper is running with state_dir {state_dir}: stop it, or give "
                             f"this one its own state_dir") from None

    def release(self) -> None:
        self._handle.close()


class Shipper:
    """One shipper: `run()` blocks until `stop` is set."""

    def __init__(self, config: ShipperConfig, stop: threading.Event | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self._sender_crashed = False

    def run(self) -> None:
        config = self.config
        lock = StateDirLock(config.state_path)
        try:
            store = StateStore(config.state_path)
        except BaseException:
            lock.release()
            raise
        try:
            queue = BatchQueue(store, memory_limit_bytes=int(config.memory_queue_mb * MB),
                               disk_limit_bytes=int(config.queue_max_mb * MB))
            follower = Follower(config, store, queue)
            sender = threading.Thread(target=self._send_loop, args=(queue, follower), name="sender",
                                      daemon=True)
            sender.start()
            log.info("shipping site %s from %s to %s", config.site, config.host, ", ".join(config.collectors))
            try:
                while not self.stop.is_set():
                    follower.poll()
                    if not follower.behind:
                        self.stop.wait(config.poll_interval_s)
            finally:
                self.stop.set()
                queue.set_sender_healthy(False)
                sender.join(config.ack_timeout_s + config.connect_timeout_s)
        finally:
            store.close()
            lock.release()
        if self._sender_crashed:
            raise RuntimeError("the sender thread failed (see the log above); the shipper stopped")

    def _send_loop(self, queue: BatchQueue, follower: Follower) -> None:
        config = self.config
        client = ForwardClient(config.collector_addresses, tls=config.tls, auth=config.auth,
                               self_hostname=config.host, connect_timeout_s=config.connect_timeout_s,
                               ack_timeout_s=config.ack_timeout_s)
        backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        heartbeat = Heartbeat(site=config.site, host=config.host, heartbeat_s=config.heartbeat_s)
        packer = RecordPacker(site=config.site, host=config.host, timezone=config.timezone)
        record_tag = f"bootwatch.{config.site}"
        failures = 0
        try:
            while not self.stop.is_set():
                if client.connected_to is None:
                    try:
                        log.info("connected to collector %s", client.connect())
                    except TransportError as exc:
                        queue.set_sender_healthy(False)
                        delay = backoff.next_delay()
                        log.warning("%s; retrying in %.1f s", exc, delay)
                        self.stop.wait(delay)
                        continue
                try:
                    if heartbeat.due():
                        heartbeat.sent()
                        size, records = queue.depth
                        beat = heartbeat.record(follower.watched(), size, records)
                        event = packer.pack_event(beat, time.time())
                        client.send(HEARTBEAT_TAG, event, 1, new_chunk_id())
                        continue
                    batch = queue.next_batch(_IDLE_WAIT_S)
                    if batch is None:
                        continue
                    if batch.records:
                        client.send(record_tag, batch.entries, batch.records, batch.chunk)
                    queue.acknowledge(batch)
                except TransportError as exc:
                    queue.set_sender_healthy(False)
                    failures += 1
                    if failures >= client.collector_count:
                        failures = 0
                        delay = backoff.next_delay()
                        log.warning("%s; every collector failed, retrying in %.1f s", exc, delay)
                        self.stop.wait(delay)
                    else:
                        log.warning("%s; trying the next collector", exc)
                    continue
                failures = 0
                backoff.reset()
                if not queue.sender_healthy:
                    queue.set_sender_healthy(True)
        except Exception:
            # Not a delivery failure (those are retried above): a bug or a broken state file. Stop the
            # whole shipper so the service manager restarts it, rather than read on with no sender.
            log.exception("the sender thread failed")
            self._sender_crashed = True
            self.stop.set()
        finally:
            # A reader waiting for memory room must not wait for a sender that is gone.
            queue.set_sender_healthy(False)
            client.close()
