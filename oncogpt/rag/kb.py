"""The knowledge base: passages read from files, indexed in one SQLite file.

One file holds everything: the passages, an FTS5 index over title and text (bm25), and one
float32 vector per passage stored as a BLOB (SQLite extensions cannot be loaded here, so vector
search is a numpy matrix product over vectors loaded when the KB is opened).

Readers, chosen by file suffix:

- `.md`/`.markdown`: one passage per heading section (long sections are split), source from a
  `source:` front-matter key or a `Source: <url>` line;
- `.txt`: blank-line paragraphs merged into passages of about 120-200 words;
- `.jsonl`: one passage per row: `text` (required), `title`, `id`, `source_url`, `source_title`,
  any other field is kept as metadata;
- `.csv`: `title`/`text` columns, or the disease-database layout (`disease`, `Symptom`,
  `reason`, `TestsAndProcedures`, `commonMedications`, list columns as Python literals);
- `.json`: a list of `{instruction, input, output}` (title = input, text = output) or of
  `{title, text}` objects.

Rebuilding an existing KB embeds only passages whose content hash is new; passages that the
sources no longer produce are removed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncogpt.errors import OncoGPTError
from oncogpt.text import literal_list

SCHEMA_VERSION = "1"
#: Passages from plain text and long Markdown sections are merged/split to this many words.
MIN_WORDS, MAX_WORDS = 120, 200

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


class KBError(OncoGPTError, ValueError):
    """Malformed input or an unusable KB file; the message names the file (and line)."""


@dataclasses.dataclass(frozen=True)
class Passage:
    """One retrievable unit of text with where it came from."""

    id: str
    title: str
    text: str
    source_title: str
    source_url: str
    doc: str  # the source file's name: lets a rebuild drop passages of files that are gone
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    origin: str = ""  # "file:line", for error messages only; not stored

    @property
    def content_hash(self) -> str:
        """Hash of exactly what is embedded: equal hash, no need to embed again."""
        return hashlib.sha256(embedding_text(self.title, self.text).encode()).hexdigest()[:24]


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


def embedding_text(title: str, text: str) -> str:
    """The text the encoder sees: the title first, since the encoder truncates long passages."""
    return f"{title}\n{text}" if title else text


def stable_id(doc: str, key: str) -> str:
    """An id that survives rebuilds: file stem plus a hash of (file name, title/position)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(doc).stem).strip("_")[:24] or "doc"
    digest = hashlib.sha256(f"{doc}\x00{key}".encode()).hexdigest()[:12]
    return f"{stem}-{digest}"


# --------------------------------------------------------------------------------------------
# Readers. Each yields Passages; errors raise KBError naming the file and line.


def _word_count(text: str) -> int:
    return len(text.split())


def _split_long(paragraph: str, max_words: int = MAX_WORDS) -> list[str]:
    """Cut a paragraph longer than max_words at sentence ends (hard cut as a last resort)."""
    if _word_count(paragraph) <= max_words:
        return [paragraph]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        words = sentence.split()
        while len(words) > max_words:  # one huge "sentence" (a list, a table): hard cut
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and _word_count(" ".join(current)) + len(words) > max_words:
            pieces.append(" ".join(current))
            current = []
        if words:
            current.append(" ".join(words))
    if current:
        pieces.append(" ".join(current))
    return pieces


def merge_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Merge short paragraphs until MIN_WORDS and never past MAX_WORDS (long ones are split)."""
    chunks: list[str] = []
    current: list[str] = []
    for para in paragraphs:
        for piece in _split_long(para.strip()):
            if not piece:
                continue
            size = sum(_word_count(p) for p in current)
            if current and size >= MIN_WORDS or current and size + _word_count(piece) > MAX_WORDS:
                chunks.append("\n\n".join(current))
                current = []
            current.append(piece)
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def _paragraphs(lines: list[str]) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]


def read_text(path: Path) -> Iterator[Passage]:
    """Plain text: blank-line paragraphs merged into ~120-200-word passages."""
    text = _read(path)
    title = path.stem.replace("_", " ").replace("-", " ").strip()
    for n, chunk in enumerate(merge_paragraphs(_paragraphs(text.splitlines())), start=1):
        yield Passage(
            id=stable_id(path.name, f"#{n}"),
            title=title if n == 1 else f"{title} ({n})",
            text=chunk,
            source_title=title,
            source_url=path.as_posix(),
            doc=path.name,
            origin=f"{path}",
        )


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SOURCE_LINE = re.compile(r"^\s*(?:source|url|source_url)\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


def _front_matter(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """`key: value` pairs between leading `---` lines, and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return meta, i + 1
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition(":")
            if not sep:
                raise KBError(f"{path}:{i + 1}: front matter line is not 'key: value': {line!r}")
            meta[key.strip().lower()] = value.strip().strip("'\"")
    raise KBError(f"{path}:1: front matter starts with '---' but never ends")


def _is_url(value: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE))


def _md_sections(lines: list[str], start: int) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line number, heading path, body lines) per section; headings in code fences don't count."""
    path: list[str] = []
    body: list[str] = []
    line_no = start + 1
    in_fence = False
    for i in range(start, len(lines)):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        yield line_no, list(path), body
        level = len(match.group(1))
        path = path[: level - 1] + [""] * max(0, level - 1 - len(path)) + [match.group(2)]
        body, line_no = [], i + 1
    yield line_no, list(path), body


def _md_source(front: dict[str, str], line_source: str, path: Path) -> tuple[str, str]:
    """(source_title, source_url): a URL names where the text came from, other text its title."""
    source = line_source or front.get("source") or front.get("source_url") or front.get("url")
    url = source if source and _is_url(source) else path.as_posix()
    title = front.get("source_title") or (source if source and not _is_url(source) else "")
    return title, url


def read_markdown(path: Path) -> Iterator[Passage]:
    """Markdown: one passage per heading section; the title is the heading path."""
    lines = _read(path).splitlines()
    front, start = _front_matter(lines, path)
    first_h1 = next((ln[2:].strip() for ln in lines[start:] if ln.startswith("# ")), None)
    doc_title = front.get("title") or first_h1 or path.stem.replace("_", " ")
    doc_source = ""
    seen: dict[str, int] = {}
    for line_no, heads, body in _md_sections(lines, start):
        kept, section_source = [], ""
        for line in body:
            found = _SOURCE_LINE.match(line)
            if found:  # a `Source:` line is metadata, not passage text
                section_source = found.group(1)
            else:
                kept.append(line)
        if not heads:  # a Source line before any heading holds for the whole file
            doc_source = section_source
        source_title, source_url = _md_source(front, section_source or doc_source, path)
        heads = [h for h in heads if h]
        title = " > ".join(heads) if heads else doc_title
        for part, chunk in enumerate(merge_paragraphs(_paragraphs(kept)), start=1):
            key = f"{title}#{seen.get(title, 0)}"
            seen[title] = seen.get(title, 0) + 1
            yield Passage(
                id=stable_id(path.name, key),
                title=title if part == 1 else f"{title} ({part})",
                text=chunk,
                source_title=source_title or doc_title,
                source_url=source_url,
                doc=path.name,
                meta={"line": line_no},
                origin=f"{path}:{line_no}",
            )


_JSONL_FIELDS = ("id", "title", "text", "source_url", "source_title")


def _row_passage(
    row: Any, path: Path, line: int, seen: dict[str, int], text_key: str = "text"
) -> Passage:
    """A passage from one JSON object with title/text (and optional id and source) fields."""
    where = f"{path}:{line}"
    if not isinstance(row, dict):
        raise KBError(f"{where}: expected a JSON object, got {type(row).__name__}")
    text = row.get(text_key)
    if not isinstance(text, str) or not text.strip():
        raise KBError(f"{where}: missing or empty '{text_key}' (a non-empty string)")
    title = row.get("title", "")
    if not isinstance(title, str):
        raise KBError(f"{where}: 'title' must be a string")
    if "id" in row and not isinstance(row["id"], str | int):
        raise KBError(f"{where}: 'id' must be a string or an integer")
    meta = {k: v for k, v in row.items() if k not in _JSONL_FIELDS and k != text_key}
    return _titled_passage(path, line, title.strip(), text.strip(), seen, row.get("id"), meta, row)


def _titled_passage(
    path: Path,
    line: int,
    title: str,
    text: str,
    seen: dict[str, int],
    given_id: Any = None,
    meta: dict[str, Any] | None = None,
    row: dict[str, Any] | None = None,
) -> Passage:
    """Build a passage whose id is given, or else derived from (file name, title, occurrence)."""
    row = row or {}
    if given_id is not None and str(given_id).strip():
        pid = str(given_id).strip()
    else:
        # Title plus its occurrence number: inserting a row elsewhere does not shift this id.
        key = f"{title}#{seen.get(title, 0)}"
        seen[title] = seen.get(title, 0) + 1
        pid = stable_id(path.name, key)
    return Passage(
        id=pid,
        title=title,
        text=text,
        source_title=str(row.get("source_title") or path.stem.replace("_", " ")),
        source_url=str(row.get("source_url") or path.as_posix()),
        doc=path.name,
        meta=meta or {},
        origin=f"{path}:{line}",
    )


def read_jsonl(path: Path) -> Iterator[Passage]:
    """JSON lines: one passage per non-blank line."""
    seen: dict[str, int] = {}
    for n, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise KBError(f"{path}:{n}: invalid JSON: {err.msg} (column {err.colno})") from None
        yield _row_passage(row, path, n, seen)


def _json_items(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    """(line, item) for each element of a top-level JSON array, so errors can name the line."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:].startswith("["):
        raise KBError(f"{path}:1: expected a JSON list of objects")
    pos += 1
    line, counted = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise KBError(f"{path}:{line}: the JSON list never ends (missing ']')")
        line += text.count("\n", counted, pos)
        counted = pos
        if text[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise KBError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
        yield line, item
        pos = end


def read_json(path: Path) -> Iterator[Passage]:
    """A JSON list of {instruction, input, output} (or {title, text}) objects."""
    seen: dict[str, int] = {}
    for line, item in _json_items(_read(path), path):
        if isinstance(item, dict) and "text" in item:
            yield _row_passage(item, path, line, seen)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("output"), str):
            raise KBError(f"{path}:{line}: expected an object with 'output' (or 'text')")
        question = item.get("input") or item.get("question") or item.get("instruction") or ""
        if not isinstance(question, str):
            raise KBError(f"{path}:{line}: 'input' must be a string")
        if not item["output"].strip():
            raise KBError(f"{path}:{line}: empty 'output'")
        meta = {k: v for k, v in item.items() if k not in ("input", "output", "id")}
        yield _titled_passage(
            path, line, question.strip(), item["output"].strip(), seen, item.get("id"), meta, item
        )


_DISEASE_LISTS = (
    ("Symptom", "Symptoms"),
    ("TestsAndProcedures", "Tests and procedures"),
    ("commonMedications", "Common medications"),
)


def _literal_list(value: str, where: str, column: str) -> str:
    """'["a", "b"]' (a Python literal, as the disease database writes lists) -> 'a, b'."""
    value = value.strip()
    if not value.startswith("["):
        return value
    try:
        items = literal_list(value)
    except ValueError as exc:
        raise KBError(f"{where}: column {column!r} {exc}") from None
    return ", ".join(str(x).strip() for x in items if str(x).strip())


def _disease_text(row: dict[str, str], where: str) -> str:
    parts = [row.get("reason", "").strip()]
    for column, label in _DISEASE_LISTS:
        listed = _literal_list(row.get(column) or "", where, column)
        if listed:
            parts.append(f"{label}: {listed}.")
    return "\n".join(p for p in parts if p)


def read_csv(path: Path) -> Iterator[Passage]:
    """CSV with title/text columns, or the disease database (title = disease)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or [])
        disease = "disease" in columns
        if not disease and not {"title", "text"} <= columns:
            raise KBError(f"{path}:1: CSV needs columns 'title' and 'text' (or 'disease', ...)")
        seen: dict[str, int] = {}
        line = reader.line_num + 1
        for row in reader:
            where = f"{path}:{line}"
            if None in row:
                raise KBError(f"{where}: more fields than the header has")
            title = (row.get("disease") if disease else row.get("title")) or ""
            text = _disease_text(row, where) if disease else (row.get("text") or "").strip()
            if not text:
                raise KBError(f"{where}: row has no text")
            meta = {k: v for k, v in row.items() if k in ("idx",) or k not in _known(disease)}
            yield _titled_passage(path, line, title.strip(), text, seen, row.get("id"), meta, row)
            line = reader.line_num + 1


def _known(disease: bool) -> set[str]:
    if disease:
        return {"disease", "reason", "id", "source_url", "source_title"} | {
            c for c, _ in _DISEASE_LISTS
        }
    return set(_JSONL_FIELDS)


READERS: dict[str, Callable[[Path], Iterator[Passage]]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".jsonl": read_jsonl,
    ".csv": read_csv,
    ".json": read_json,
}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise KBError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_passages(path: Path) -> list[Passage]:
    """All passages of one source file; the suffix picks the reader."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise KBError(f"{path}: unsupported file type {path.suffix!r} (known: {known})")
    if not path.is_file():
        raise KBError(f"{path}: no such file")
    return list(reader(path))


def collect_sources(sources: Iterable[Path]) -> list[Path]:
    """Files from the given paths; a folder contributes its readable files, recursively."""
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            files += sorted(p for p in source.rglob("*") if p.suffix.lower() in READERS)
        else:
            files.append(source)
    return files


def read_all(sources: Iterable[Path]) -> tuple[list[Passage], int]:
    """Passages of all sources (and the file count); a duplicate id is an error naming both."""
    passages: list[Passage] = []
    first: dict[str, str] = {}
    files = collect_sources(sources)
    for path in files:
        for p in read_passages(path):
            if p.id in first:
                raise KBError(
                    f"{p.origin}: duplicate passage id {p.id!r} (first at {first[p.id]}); "
                    "give rows distinct ids or rename one of the files"
                )
            first[p.id] = p.origin
            passages.append(p)
    return passages, len(files)


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
