"""Read what an offline W&B run recorded, with no network and no W&B server.

An offline run keeps everything `wandb sync` would upload in `run-<id>.wandb`: protobuf
`Record`s framed as a LevelDB log (a 7-byte file header, then 32 KiB blocks of chunks
with a 7-byte header each: crc32, length, type FULL=1 | FIRST=2 | MIDDLE=3 | LAST=4).
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7
FULL, LAST = 1, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, chunks, records = HEADER, b"", []
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0:  # zero padding: the end of what was written
            break
        chunks += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            records.append(wandb_internal_pb2.Record.FromString(chunks))
            chunks = b""
    return records


@dataclass
class OfflineRun:
    group: str = ""
    name: str = ""
    job_type: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    def logged(self, key: str) -> list[Any]:
        return [row[key] for row in self.history if key in row]


def key(item: Any) -> str:
    """An item's key: `key`, or its `nested_key` path (how W&B stores "val/loss" now)."""
    return item.key or ".".join(item.nested_key)


def read_offline_run(run_dir: Path, timeout: float = 30.0) -> OfflineRun:
    """`<save_dir>/wandb/offline-run-*` -> what the run recorded.

    The W&B service process writes the log a little behind `wandb.finish()`: wait (up to
    `timeout` seconds) for the exit record, the last one a closed run writes.
    """
    [log] = run_dir.glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    while (run := parse_log(log)).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return run


def parse_log(log: Path) -> OfflineRun:
    run = OfflineRun()
    for record in read_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.group, run.name = record.run.run_group, record.run.display_name
            run.job_type = record.run.job_type
        elif kind == "config":
            for item in record.config.update:
                run.config[key(item)] = json.loads(item.value_json)
        elif kind == "history":
            run.history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run
