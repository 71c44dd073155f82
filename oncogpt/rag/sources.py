"""Knowledge-base sources: the file readers that turn Markdown, text, JSONL, CSV and JSON into
passages, and the `Passage` and `KBError` they produce.

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

Reading touches no database and no encoder: imports nothing from `oncogpt.rag.kb` (the index,
which imports this module), no sqlite3 and no numpy.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from oncogpt.errors import OncoGPTError
from oncogpt.text import literal_list

#: Passages from plain text and long Markdown sections are merged/split to this many words.
MIN_WORDS, MAX_WORDS = 120, 200


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
