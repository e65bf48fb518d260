"""Small real files of every previewed type, made in memory for the preview tests."""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x2a\x5b\xd7" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
WEBP_HEAD = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="#2a5bd7"/></svg>'

CSV = b"city,temperature,day\n" + b"".join(
    f"Town {i},{i % 30}.5,2024-07-{i % 28 + 1:02d}\n".encode() for i in range(250)
)
TSV = b"name\tcount\nalpha\t1\nbeta\t2\n"
SEMICOLON = "Stadt;Einwohner;Anteil\nKöln;1084831;1,5\nMünchen;1512491;2,25\n".encode()
JSON_DOC = json.dumps({"name": "set", "items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}]}).encode()
MARKDOWN = b"# Notes\n\nSome *emphasis* and <script>alert(1)</script> a list:\n\n- one\n- two\n"
TEXT = b"line one\nline two\n"
BINARY = bytes(range(256)) * 4


@functools.cache
def parquet(row_groups: int = 6, rows_per_group: int = 40_000) -> bytes:
    """A Parquet file of several row groups, several MB, whose first rows are known."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = row_groups * rows_per_group
    table = pa.table(
        {
            "id": pa.array(range(total), type=pa.int64()),
            "label": pa.array([f"row {i} " + "x" * (i % 17) for i in range(total)]),
            "score": pa.array([(i * 7919) % 1000 / 10 for i in range(total)], type=pa.float64()),
        }
    )
    buffer = io.BytesIO()
    # Pages of 64 KB (writers default to 1 MB): the first rows need one page per column.
    pq.write_table(
        table, buffer, row_group_size=rows_per_group, compression="none", data_page_size=64 * 1024, use_dictionary=False
    )
    return buffer.getvalue()
