"""The knowledge base: passages indexed in one SQLite file.

One file holds everything: the passages, an FTS5 index over title and text (bm25), and one
float32 vector per passage stored as a BLOB (SQLite extensions cannot be loaded here, so vector
search is a numpy matrix product over vectors loaded when the KB is opened).

The passages come from the file readers of `oncogpt.rag.sources` (`read_all`).

Rebuilding an existing KB embeds only passages whose content hash is new; passages that the
sources no longer produce are removed.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .sources import KBError, Passage, embedding_text, read_all

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source_title TEXT NOT NULL,
    source_url TEXT NOT NULL,
    doc TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    id UNINDEXED, title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, blob BLOB NOT NULL);
"""


@dataclasses.dataclass
class BuildStats:
    """What a build did; `embedded` is the number of encoder passes over passages."""

    files: int = 0
    passages: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.passages} passages: {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.removed} removed; "
            f"{self.embedded} embedded in {self.seconds:.1f}s"
        )


# --------------------------------------------------------------------------------------------
# Building and opening.


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as err:
        conn.close()
        raise KBError(f"{path}: not an OncoGPT knowledge base ({err})") from None
    return conn


def _encoder_name(encoder: Any) -> str:
    return f"{Path(getattr(encoder, 'path', 'encoder')).name}:{getattr(encoder, 'dim', 0)}"


def build_kb(
    sources: list[Path],
    out: Path,
    encoder: Any = None,
    prune: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> BuildStats:
    """Index `sources` (files or folders) into the SQLite file `out`, embedding only what is new.

    With `prune` (the default) the KB mirrors the sources: passages they no longer produce are
    removed. Without it, only passages of the files being read again can be removed.
    The whole update is one transaction: a failed or killed build leaves the previous KB.
    """
    from .encoder import default_encoder

    started = time.perf_counter()
    out = Path(out)
    passages, n_files = read_all(sources)  # read everything first: bad input changes nothing
    encoder = encoder or default_encoder()
    out.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(out)
    try:
        stats = _update(conn, passages, encoder, prune, progress)
    finally:
        conn.close()
    stats.files = n_files
    stats.seconds = time.perf_counter() - started
    return stats


def _update(
    conn: sqlite3.Connection,
    passages: list[Passage],
    encoder: Any,
    prune: bool,
    progress: Callable[[int, int], None] | None,
) -> BuildStats:
    info = dict(conn.execute("SELECT key, value FROM kb_info"))
    name = _encoder_name(encoder)
    # Vectors from another encoder are useless: embed everything again.
    same_encoder = info.get("encoder") == name
    old = dict(conn.execute("SELECT id, content_hash FROM passages")) if same_encoder else {}
    present = {row[0] for row in conn.execute("SELECT id FROM passages")}
    todo = [p for p in passages if old.get(p.id) != p.content_hash]
    vectors = _embed(encoder, todo, progress)
    stats = BuildStats(passages=len(passages), embedded=len(todo))
    stats.added = sum(1 for p in todo if p.id not in present)
    stats.updated = len(todo) - stats.added
    stats.unchanged = len(passages) - len(todo)
    keep_docs = {p.doc for p in passages}
    wanted = {p.id for p in passages}
    rows = conn.execute("SELECT id, doc FROM passages").fetchall()
    gone = [pid for pid, doc in rows if pid not in wanted and (prune or doc in keep_docs)]
    stats.removed = len(gone)
    with conn:  # one transaction
        _delete(conn, gone + [p.id for p in todo if p.id in present])
        _insert(conn, todo, vectors)
        _refresh_metadata(conn, [p for p in passages if old.get(p.id) == p.content_hash])
        conn.executemany(
            "INSERT OR REPLACE INTO kb_info VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("encoder", name), ("dim", str(encoder.dim))],
        )
    return stats


def _embed(
    encoder: Any, todo: list[Passage], progress: Callable[[int, int], None] | None
) -> np.ndarray:
    """Vectors of `todo`, in order; texts go to the encoder sorted by length (less padding)."""
    texts = [embedding_text(p.title, p.text) for p in todo]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    step = 256  # progress granularity; the encoder batches further inside
    for start in range(0, len(order), step):
        idx = order[start : start + step]
        out[idx] = encoder.encode([texts[i] for i in idx])
        if progress:
            progress(start + len(idx), len(texts))
    return out


def _delete(conn: sqlite3.Connection, ids: list[str]) -> None:
    if not ids:
        return
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _gone (id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _gone")
    conn.executemany("INSERT OR IGNORE INTO _gone VALUES (?)", [(i,) for i in ids])
    # One scan of each table, rather than one per id (the FTS id column is not indexed).
    for table in ("passages", "passages_fts", "vectors"):
        conn.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM _gone)")


def _insert(conn: sqlite3.Connection, todo: list[Passage], vectors: np.ndarray) -> None:
    conn.executemany(
        "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (p.id, p.title, p.text, p.source_title, p.source_url, p.doc, p.content_hash,
             json.dumps(p.meta, ensure_ascii=False, default=str))
            for p in todo
        ],
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO passages_fts (id, title, text) VALUES (?, ?, ?)",
        [(p.id, p.title, p.text) for p in todo],
    )
    conn.executemany(
        "INSERT INTO vectors VALUES (?, ?)",
        [(p.id, vec.astype(np.float32).tobytes()) for p, vec in zip(todo, vectors, strict=True)],
    )


def _refresh_metadata(conn: sqlite3.Connection, same: list[Passage]) -> None:
    """Source fields may change without the text changing: update them, embed nothing."""
    conn.executemany(
        "UPDATE passages SET source_title = ?, source_url = ?, doc = ?, meta = ? WHERE id = ?",
        [
            (p.source_title, p.source_url, p.doc, json.dumps(p.meta, default=str), p.id)
            for p in same
        ],
    )


class KnowledgeBase:
    """An opened KB: the SQLite connection plus all vectors as one (n, dim) float32 matrix."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise KBError(f"{self.path}: no such knowledge base; build it first (build_kb)")
        # Read-only: retrieval never writes, and a reader must not create an empty KB by typo.
        # One connection shared by threads (a server's worker pool), serialized by a lock.
        self.conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        try:
            self.info = dict(self.conn.execute("SELECT key, value FROM kb_info"))
            rows = self.conn.execute("SELECT id, blob FROM vectors ORDER BY id").fetchall()
        except sqlite3.DatabaseError as err:
            self.conn.close()
            raise KBError(f"{self.path}: not an OncoGPT knowledge base ({err})") from None
        self.dim = int(self.info.get("dim", 0) or 0)
        self.ids: list[str] = [r[0] for r in rows]
        blob = b"".join(r[1] for r in rows)
        self.matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), self.dim)

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Passage rows by id (missing ids are left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        cols = ["id", "title", "text", "source_title", "source_url", "doc", "meta"]
        rows = self.query(f"SELECT {', '.join(cols)} FROM passages WHERE id IN ({marks})", ids)
        return {row[0]: dict(zip(cols, row, strict=True)) for row in rows}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (thread-safe)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
