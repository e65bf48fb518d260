"""download.zip: the text files, the pointer files and the listings, stored (uncompressed).

The archive is written the way zipstream-ng writes a sized ZipStream of the same members
(tests/test_exports.py checks it byte for byte against the library), but most of it once
per version instead of once per download: zipstream-ng keeps every member in memory to
know the archive's size (a gigabyte at a million files) and hashes every member for
every download. Here, at publish time, the local entries of the version's files (header,
data, data descriptor) go to the "zip-local" part and their central-directory records to
"zip-central"; both are the same for every share. A download streams "zip-local", then
the few members that name the share's links (urls.txt, manifest.jsonl,
datapackage.json, HOW-TO-DOWNLOAD.md, hashed as they stream), then "zip-central", their
records and the end records. Its size is known from stored lengths alone.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packager.exports import parts

if TYPE_CHECKING:
    from packager.models import PackageVersion

LOCAL_PART = "zip-local"
CENTRAL_PART = "zip-central"

# The records of the ZIP format (APPNOTE 4.3): signatures and layouts.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_LIMIT = (1 << 31) - 1  # past this, sizes and offsets move to ZIP64 fields (as zipfile does)
ZIP_FILECOUNT_LIMIT = (1 << 16) - 1
ZIP64_VERSION = 45
_DEFAULT_VERSION = 20
_FLAG_DATA_DESCRIPTOR = 1 << 3
_FLAG_UTF8 = 1 << 11
_CREATE_SYSTEM = 0 if sys.platform == "win32" else 3
_FILE_MODE = 0o600 << 16  # rw-------, as zipstream-ng (and ZipFile.writestr) mark added data
# Sizes are checked against the ZIP64 limit with 5% to spare, as zipstream-ng does.
_ZIP64_ESTIMATE_FACTOR = 1.05


def _dos(date_time: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time[:6]
    return (year - 1980) << 9 | month << 5 | day, hour << 11 | minute << 5 | second // 2


def _encode_name(arcname: str) -> tuple[bytes, int]:
    try:
        return arcname.encode("ascii"), _FLAG_DATA_DESCRIPTOR
    except UnicodeEncodeError:
        return arcname.encode(), _FLAG_DATA_DESCRIPTOR | _FLAG_UTF8


def _needs_zip64(size: int) -> bool:
    return size * _ZIP64_ESTIMATE_FACTOR > ZIP64_LIMIT


@dataclass(frozen=True)
class _Entry:
    """One member's headers. Sizes and CRC go in the data descriptor after the data."""

    name: bytes
    flags: int
    dos: tuple[int, int]
    size: int
    zip64: bool

    @classmethod
    def of(cls, arcname: str, size: int, dos: tuple[int, int]) -> _Entry:
        name, flags = _encode_name(arcname)
        return cls(name, flags, dos, size, _needs_zip64(size))

    def local_header(self) -> bytes:
        dosdate, dostime = self.dos
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if self.zip64 else b""
        field = 0xFFFFFFFF if self.zip64 else 0
        version = ZIP64_VERSION if self.zip64 else _DEFAULT_VERSION
        header = _LOCAL_HEADER.pack(
            b"PK\x03\x04",
            version,
            0,
            self.flags,
            0,  # stored
            dostime,
            dosdate,
            0,
            field,
            field,
            len(self.name),
            len(extra),
        )
        return header + self.name + extra

    def data_descriptor(self, crc: int) -> bytes:
        return struct.pack("<4sLQQ" if self.zip64 else "<4sLLL", b"PK\x07\x08", crc, self.size, self.size)

    def stored_length(self) -> int:
        """Local header, data and data descriptor."""
        return 30 + len(self.name) + (20 if self.zip64 else 0) + self.size + (24 if self.zip64 else 16)

    def central_record(self, crc: int, offset: int) -> bytes:
        dosdate, dostime = self.dos
        extras: list[int] = []
        size_field = offset_field = 0
        if self.size > ZIP64_LIMIT:
            extras += [self.size, self.size]
            size_field = 0xFFFFFFFF
        else:
            size_field = self.size
        if offset > ZIP64_LIMIT:
            extras.append(offset)
            offset_field = 0xFFFFFFFF
        else:
            offset_field = offset
        extra = struct.pack("<HH" + "Q" * len(extras), 1, 8 * len(extras), *extras) if extras else b""
        version = ZIP64_VERSION if extras or self.zip64 else _DEFAULT_VERSION
        record = _CENTRAL_RECORD.pack(
            b"PK\x01\x02",
            version,
            _CREATE_SYSTEM,
            version,
            0,
            self.flags,
            0,
            dostime,
            dosdate,
            crc,
            size_field,
            size_field,
            len(self.name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            _FILE_MODE,
            offset_field,
        )
        return record + self.name + extra


def _end_records(count: int, central_offset: int, central_size: int) -> bytes:
    records = b""
    if count >= ZIP_FILECOUNT_LIMIT or central_offset > ZIP64_LIMIT or central_size > ZIP64_LIMIT:
        zip64_end_offset = central_offset + central_size
        records += _END64.pack(
            b"PK\x06\x06",
            44,
            ZIP64_VERSION,
            ZIP64_VERSION,
            0,
            0,
            count,
            count,
            central_size,
            central_offset,
        )
        records += _END64_LOCATOR.pack(b"PK\x06\x07", 0, zip64_end_offset, 1)
        count, central_size, central_offset = (
            min(count, 0xFFFF),
            min(central_size, 0xFFFFFFFF),
            min(central_offset, 0xFFFFFFFF),
        )
    return records + _END.pack(b"PK\x05\x06", 0, 0, count, count, central_size, central_offset, 0)


class ZipBuilder:
    """Publish time: the version's own members, written to the two ZIP parts."""

    def __init__(self, version: PackageVersion, *, date_time: tuple[int, ...]) -> None:
        self.local = parts.PartWriter(version, LOCAL_PART)
        self.central = parts.PartWriter(version, CENTRAL_PART)
        self.dos = _dos(date_time)
        self.count = 0

    def add(self, arcname: str, data: bytes) -> None:
        entry = _Entry.of(arcname, len(data), self.dos)
        crc = zlib.crc32(data)
        offset = self.local.size
        self.local.write(entry.local_header() + data + entry.data_descriptor(crc))
        self.central.write(entry.central_record(crc, offset))
        self.count += 1

    def close(self) -> dict[str, Any]:
        return {"local": self.local.close(), "central": self.central.close(), "count": self.count}


@dataclass(frozen=True)
class Member:
    """A member written at download time: its exact size, and its bytes when asked."""

    arcname: str
    size: int
    chunks: Callable[[], Iterable[bytes]]


class Archive:
    """download.zip for one share: len() from stored lengths, iter() streams it."""

    def __init__(self, version: PackageVersion, prepared: dict[str, Any], members: list[Member]) -> None:
        self.version = version
        self.dos = _dos(tuple(prepared["date_time"]))
        self.local_size = int(prepared["zip"]["local"]["size"])
        self.central_size = int(prepared["zip"]["central"]["size"])
        self.count = int(prepared["zip"]["count"]) + len(members)
        self.members = members

    def _layout(self) -> Iterator[tuple[Member, _Entry, int]]:
        offset = self.local_size
        for member in self.members:
            entry = _Entry.of(member.arcname, member.size, self.dos)
            yield member, entry, offset
            offset += entry.stored_length()

    def __len__(self) -> int:
        offset = self.local_size
        central = self.central_size
        for _, entry, member_offset in self._layout():
            offset = member_offset + entry.stored_length()
            central += len(entry.central_record(0, member_offset))
        return offset + central + len(_end_records(self.count, offset, central))

    def __iter__(self) -> Iterator[bytes]:
        yield from parts.read(self.version, LOCAL_PART)
        records: list[bytes] = []
        offset = self.local_size
        for member, entry, member_offset in self._layout():
            yield entry.local_header()
            crc = written = 0
            for chunk in member.chunks():
                crc = zlib.crc32(chunk, crc)
                written += len(chunk)
                yield chunk
            if written != member.size:
                # The Content-Length already sent would be wrong: end the response short.
                raise RuntimeError(f"{member.arcname}: wrote {written} bytes, announced {member.size}")
            yield entry.data_descriptor(crc)
            records.append(entry.central_record(crc, member_offset))
            offset = member_offset + entry.stored_length()
        yield from parts.read(self.version, CENTRAL_PART)
        central = self.central_size + sum(len(record) for record in records)
        yield b"".join(records)
        yield _end_records(self.count, offset, central)
