"""A read-only, seekable file whose bytes come from elsewhere, a read at a time."""

from __future__ import annotations

import io
from typing import Any


class ReadOnlyFile(io.RawIOBase):
    """A read-only, seekable file of `size` bytes; a subclass says how to read a range (`fetch`)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(base + offset, 0)
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.size - self.position if size is None or size < 0 else min(size, self.size - self.position)
        if wanted <= 0:
            return b""
        data = self.fetch(self.position, wanted)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def fetch(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (never past the end)."""
        raise NotImplementedError
