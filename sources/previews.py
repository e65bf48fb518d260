"""Previews of data files: what is in a file, without downloading it.

A preview reads only what it shows, with ranged requests through the source's own client
(the same allow-listed endpoint and credentials as everything else), bounded in bytes and
in time, and is cached per object version (version id, else ETag): an immutable object is
read once. Images are not read at all beyond their signature: the page shows them from a
short-lived signed storage URL.

Parquet goes through pyarrow over `RangedFile`, a file object whose reads are ranged
requests; pyarrow reads the footer, then only the pages of the first row group that the
first rows need (see bench/preview_parquet.py for the bytes this saves against s3fs).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import mimetypes
import re
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from django.core.cache import cache

from sources.backends import Backend, ObjectNotFound, StorageError
from web import isolation
from web.files import ReadOnlyFile
from web.notebooks import notebook_to_html
from web.paths import name_of
from web.sanitize import markdown_to_html

if TYPE_CHECKING:  # this module is imported by isolation workers too, which load no models
    from sources.models import Source

PREVIEW_SECONDS = 10.0  # wall-clock budget for all the requests of one preview
TEXT_BYTES = 64 * 1024  # CSV/TSV and plain text
DOCUMENT_BYTES = 256 * 1024  # JSON and Markdown
HEX_BYTES = 256
PARQUET_BYTES = 8 * 1024 * 1024  # at most this much of a Parquet file, however large
NOTEBOOK_BYTES = 8 * 1024 * 1024  # a notebook's figures are inside it
TABLE_ROWS = 100
PARQUET_ROWS = 50
# Checked in the footer before any page is read: a few hundred bytes can ask for gigabytes.
PARQUET_COLUMNS = 500
PARQUET_DECODED_BYTES = 64 * 1024 * 1024  # the first row group, uncompressed
PARQUET_ROW_GROUPS_LISTED = 1000
TOO_COSTLY = "This file is too large or too slow to preview here: download it to see it."
CELL_CHARS = 200
IMAGE_URL_SECONDS = 300
CACHE_SECONDS = 24 * 3600
FAILURE_CACHE_SECONDS = 60  # an object that is gone or forbidden may come back
TOO_COSTLY_CACHE_SECONDS = 3600  # past its limits: kept a while, the machine may have been busy

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WebP", ".svg": "SVG"}
TEXT_SUFFIXES = {
    ".txt", ".log", ".py", ".r", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".sh", ".xml",
    ".jsonl", ".ndjson", ".sql", ".rst", ".tex", ".html", ".css", ".js",
}  # fmt: skip


class PreviewFailed(Exception):
    """Why there is no preview, in one sentence fit to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Preview:
    kind: str  # table, parquet, image, json, markdown, text, hex, or failed
    name: str
    size: int
    content_type: str = ""
    error: str = ""
    bytes_read: int = 0
    requests: int = 0
    truncated: bool = False
    # table and parquet
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    delimiter: str = ""
    has_header: bool = False
    # parquet
    schema: list[tuple[str, str]] = field(default_factory=list)
    row_count: int = 0
    row_groups: list[tuple[int, int]] = field(default_factory=list)  # (rows, compressed bytes)
    # json, markdown, text, hex
    text: str = ""
    html: str = ""
    image_format: str = ""
    image_url: str = ""

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}.get(
            self.delimiter, repr(self.delimiter)
        )


class RangedFile(ReadOnlyFile):
    """A read-only, seekable file over one object, each read one ranged request.

    Refuses to read more than `budget` bytes in all or to start a request after
    `deadline` (time.monotonic()), so a preview of any file stays bounded.
    """

    def __init__(self, backend: Backend, key: str, *, size: int, version_id: str, budget: int, deadline: float):
        super().__init__(size)
        self.backend, self.key, self.version_id = backend, key, version_id
        self.budget, self.deadline = budget, deadline
        self.bytes_read = self.requests = 0

    def fetch(self, offset: int, length: int) -> bytes:
        if self.bytes_read + length > self.budget:
            raise PreviewFailed("This file is too large to preview here: download it to see its rows.")
        if time.monotonic() > self.deadline:
            raise PreviewFailed("Storage did not answer in time for a preview.")
        data = self.backend.read(self.key, version_id=self.version_id, offset=offset, length=length)
        self.requests += 1
        self.bytes_read += len(data)
        return data

    def read_at(self, offset: int, length: int) -> bytes:
        """A read for a preview running in an isolation worker (web.isolation)."""
        self.seek(offset)
        return self.read(length)


def _read_isolated(file: Any, preview: Preview) -> Preview:
    """Runs in an isolation worker: the preview of the file, whose reads the web process makes."""
    try:
        _READERS[preview.kind](preview, file)
    except isolation.ReadFailed as failure:
        raise PreviewFailed(failure.message) from None
    return preview


def preview_kind(name: str, content_type: str = "") -> str:
    suffix = PurePosixPath(name.lower()).suffix
    if suffix in {".csv", ".tsv", ".tab"}:
        return "table"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in {".json", ".geojson"}:
        return "json"
    if suffix in {".md", ".markdown"}:
        return "markdown"
    if suffix == ".ipynb":
        return "notebook"
    if suffix in TEXT_SUFFIXES or content_type.startswith("text/"):
        return "text"
    return "hex"


def _cache_key(source: Source, key: str, version: str) -> str:
    digest = hashlib.sha256(f"{source.pk}\0{key}\0{version}".encode()).hexdigest()
    return f"preview:1:{digest}"


def object_preview(
    *,
    source: Source,
    key: str,
    size: int,
    etag: str = "",
    version_id: str = "",
    content_type: str = "",
    filename: str = "",
) -> Preview:
    """The preview of one object, from the cache when this version was previewed before.

    `filename`: the name the image link saves as (a package entry's own; the key's by default).
    """
    name = name_of(key)
    kind = preview_kind(name, content_type)
    preview = Preview(kind=kind, name=name, size=size, content_type=content_type or _guess_type(name))
    cache_key = _cache_key(source, key, version_id or etag or str(size))
    cached = cache.get(cache_key)
    if isinstance(cached, Preview):
        preview = cached
    else:
        from sources import clients

        try:
            backend = clients.backend_for(source)
            reader = RangedFile(
                backend,
                key,
                size=size,
                version_id=version_id,
                budget={"parquet": PARQUET_BYTES, "notebook": NOTEBOOK_BYTES}.get(kind, DOCUMENT_BYTES),
                deadline=time.monotonic() + PREVIEW_SECONDS,
            )
            # Parsing runs in a worker process with a time and a memory limit; the reads
            # (and the credentials they need) stay here.
            preview = isolation.run(_read_isolated, preview, seconds=PREVIEW_SECONDS, reader=reader.read_at, size=size)
            preview.bytes_read, preview.requests = reader.bytes_read, reader.requests
            timeout = CACHE_SECONDS
        except isolation.TooCostly:
            preview = dataclasses.replace(preview, kind="failed", error=TOO_COSTLY)
            timeout = TOO_COSTLY_CACHE_SECONDS
        except PreviewFailed as failure:
            preview = dataclasses.replace(preview, kind="failed", error=failure.message)
            timeout = CACHE_SECONDS  # the same bytes fail the same way
        except StorageError as error:
            preview = dataclasses.replace(preview, kind="failed", error=_storage_sentence(error))
            timeout = FAILURE_CACHE_SECONDS
        cache.set(cache_key, preview, timeout)
    if preview.kind == "image":
        from sources import clients

        try:
            url = clients.backend_for(source).sign_url(
                key, expires_in=IMAGE_URL_SECONDS, version_id=version_id, filename=filename or name
            )
        except StorageError as error:
            return dataclasses.replace(preview, kind="failed", error=_storage_sentence(error))
        preview = dataclasses.replace(preview, image_url=url)
    return preview


def _storage_sentence(error: StorageError) -> str:
    if isinstance(error, ObjectNotFound):
        return "This file is no longer in storage, so there is no preview."
    if error.reason == "auth":
        return "The storage service refused to let packager read this file, so there is no preview."
    if error.reason == "timeout":
        return "Storage did not answer in time for a preview."
    return error.message


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or ""


def _head(reader: RangedFile, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes, and whether the file goes on after them."""
    data = reader.read(limit)
    return data, reader.size > len(data)


def _decode(data: bytes, what: str) -> str:
    if b"\0" in data:
        raise PreviewFailed(f"This file holds binary data, not {what}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # older spreadsheets write Windows-1252


def _complete_lines(data: bytes, truncated: bool) -> bytes:
    """Drop a last line cut short by the byte limit (it would show a partial row)."""
    if truncated and b"\n" in data:
        return data[: data.rindex(b"\n") + 1]
    return data


def _read_table(preview: Preview, reader: RangedFile) -> None:
    data, preview.truncated = _head(reader, TEXT_BYTES)
    text = _decode(_complete_lines(data, preview.truncated), "comma- or tab-separated text")
    sample = text[:8192]  # the sniffer's cost grows with the square of some samples
    fallback = "\t" if preview.name.lower().endswith((".tsv", ".tab")) else ","
    dialect: Any
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel_tab if fallback == "\t" else csv.excel  # one column, or too few rows to tell
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text), dialect, strict=True):
            rows.append([cell[:CELL_CHARS] for cell in row])
            if len(rows) > TABLE_ROWS + 1:  # the header, the rows shown, and one to tell there are more
                break
    except csv.Error as error:
        raise PreviewFailed(f"This file is not well-formed {_table_name(dialect.delimiter)} ({error}).") from None
    preview.has_header = looks_like_header(rows, sample=sample)
    if preview.has_header and rows:
        preview.columns = rows.pop(0)
    preview.truncated = preview.truncated or len(rows) > TABLE_ROWS
    preview.rows = rows[:TABLE_ROWS]
    preview.delimiter = dialect.delimiter
    width = max([len(preview.columns), *(len(row) for row in preview.rows)], default=0)
    preview.columns += [""] * (width - len(preview.columns)) if preview.columns else []
    preview.rows = [row + [""] * (width - len(row)) for row in preview.rows]


def _is_number(cell: str) -> bool:
    text = cell.strip().replace(",", "").replace("_", "")
    if not text:
        return False
    try:
        float(text)
    except ValueError:
        return _DATE.match(cell.strip()) is not None
    return True


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def looks_like_header(rows: list[list[str]], *, sample: str = "") -> bool:
    """Whether the first row names the columns, as a spreadsheet guesses it.

    A header's cells are all filled in, none is a number or a date, and they are distinct;
    it is a header when some column below it holds numbers or dates (text over numbers).
    When every column is text, the standard library's sniffer decides (a first row
    whose lengths differ from the rest).
    """
    if len(rows) < 2:
        return False
    first = [cell.strip() for cell in rows[0]]
    if not first or any(not cell for cell in first) or len(set(first)) != len(first):
        return False
    if any(_is_number(cell) for cell in first):
        return False
    body = rows[1:21]
    for column in range(len(first)):
        cells = [row[column] for row in body if column < len(row) and row[column].strip()]
        if cells and sum(_is_number(cell) for cell in cells) * 2 > len(cells):
            return True
    try:
        return csv.Sniffer().has_header(sample) if sample else False
    except csv.Error:
        return False


def _table_name(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"


def _read_parquet(preview: Preview, reader: RangedFile) -> None:
    import pyarrow as pa  # imported on first use: it is large and most requests need no Parquet
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False with a small buffer: pyarrow reads the pages the first rows need,
        # not whole column chunks.
        parquet = pq.ParquetFile(reader, pre_buffer=False, buffer_size=64 * 1024)
        metadata = parquet.metadata
        if metadata.num_columns > PARQUET_COLUMNS:
            raise PreviewFailed(
                f"This file has {metadata.num_columns:,} columns, too many to preview here (at most "
                f"{PARQUET_COLUMNS:,}): download it to see its rows."
            )
        preview.row_count = metadata.num_rows
        preview.row_groups = [
            (metadata.row_group(index).num_rows, metadata.row_group(index).total_byte_size)
            for index in range(min(metadata.num_row_groups, PARQUET_ROW_GROUPS_LISTED))
        ]
        preview.schema = [(item.name, str(item.type)) for item in parquet.schema_arrow]
        preview.columns = [name for name, _ in preview.schema]
        if metadata.num_row_groups:
            first = metadata.row_group(0)
            decoded = max(
                first.total_byte_size,
                sum(first.column(index).total_uncompressed_size for index in range(first.num_columns)),
            )
            if decoded > PARQUET_DECODED_BYTES or decoded < 0:
                raise PreviewFailed(
                    f"This file's first row group holds {max(decoded, 0):,} bytes once decoded, too many to preview "
                    "here: download it to see its rows."
                )
            batch = next(parquet.iter_batches(batch_size=PARQUET_ROWS, row_groups=[0]), None)
            if batch is not None:
                preview.rows = [[_cell(value) for value in row.values()] for row in batch.to_pylist()]
    except MemoryError:
        raise  # the isolation worker's memory limit: "too large to preview"
    except (pa.ArrowException, OSError, ValueError) as error:
        raise PreviewFailed(f"This file could not be read as Parquet ({_first_line(error)}).") from None
    preview.truncated = preview.row_count > len(preview.rows)


def _first_line(error: Exception) -> str:
    """The first sentence of a library's message, so that ours stays one sentence."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return line.split(". ")[0].rstrip(".")[:200]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


_IMAGE_SIGNATURES = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
}


def _read_image(preview: Preview, reader: RangedFile) -> None:
    image_format = IMAGE_SUFFIXES[PurePosixPath(preview.name.lower()).suffix]
    head = reader.read(4096 if image_format == "SVG" else 16)
    if image_format == "SVG":
        valid = b"<svg" in head.lower() and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    elif image_format == "WebP":
        valid = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    else:
        valid = head.startswith(_IMAGE_SIGNATURES[image_format])
    if not valid:
        raise PreviewFailed(f"This file is not a valid {image_format} image.")
    preview.image_format = image_format


def _read_json(preview: Preview, reader: RangedFile) -> None:
    data, preview.truncated = _head(reader, DOCUMENT_BYTES)
    text = _decode(data, "JSON")
    if preview.truncated:
        preview.text = indent_json_prefix(text)
        return
    try:
        preview.text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except RecursionError:  # nested deeper than json can follow: indented by the walk below
        preview.text = indent_json_prefix(text)
    except json.JSONDecodeError as error:
        raise PreviewFailed(
            f"This file is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None


def indent_json_prefix(text: str, indent: str = "  ") -> str:
    """Indent the start of a JSON document that goes on past what was read.

    json.loads needs the whole document; this walks the characters instead, so the first
    256 KB of a large file read as well as a small file does.
    """
    out: list[str] = []
    depth, in_string, escaped = 0, False, False
    # Indentation stops growing past this depth: a document nested 10,000 deep would
    # otherwise be indented into hundreds of megabytes.
    deepest = 32
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char in "{[":
            depth += 1
            out.append(char + "\n" + indent * min(depth, deepest))
        elif char in "}]":
            depth = max(depth - 1, 0)
            out.append("\n" + indent * min(depth, deepest) + char)
        elif char == ",":
            out.append(",\n" + indent * min(depth, deepest))
        elif char == ":":
            out.append(": ")
        elif not char.isspace():
            out.append(char)
    return "".join(out)


def _read_markdown(preview: Preview, reader: RangedFile) -> None:
    data, preview.truncated = _head(reader, DOCUMENT_BYTES)
    preview.html = markdown_to_html(_decode(_complete_lines(data, preview.truncated), "Markdown text"))


def _read_notebook(preview: Preview, reader: RangedFile) -> None:
    """The notebook as Jupyter shows it, through the renderer package entries use (sanitized)."""
    data, truncated = _head(reader, NOTEBOOK_BYTES)
    if truncated:
        raise PreviewFailed(
            f"This notebook is larger than {NOTEBOOK_BYTES // (1024 * 1024)} MB: download it to open it in Jupyter."
        )
    preview.html = notebook_to_html(_decode(data, "a Jupyter notebook"))


def _read_text(preview: Preview, reader: RangedFile) -> None:
    data, preview.truncated = _head(reader, TEXT_BYTES)
    if b"\0" in data:
        preview.kind = "hex"
        _hex_lines(preview, data[:HEX_BYTES])
        return
    preview.text = _decode(_complete_lines(data, preview.truncated), "text")


def _read_hex(preview: Preview, reader: RangedFile) -> None:
    data, preview.truncated = _head(reader, HEX_BYTES)
    _hex_lines(preview, data)


def _hex_lines(preview: Preview, data: bytes) -> None:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    preview.text = "\n".join(lines)
    preview.truncated = preview.size > len(data)


_READERS = {
    "table": _read_table,
    "parquet": _read_parquet,
    "image": _read_image,
    "json": _read_json,
    "markdown": _read_markdown,
    "notebook": _read_notebook,
    "text": _read_text,
    "hex": _read_hex,
}
