"""Path rules shared by packages (logical paths) and sources (storage keys below a prefix)."""

from __future__ import annotations


def folder_of(path: str) -> str:
    """The folder a file or folder is in, with its trailing slash.

    "a/b/" for "a/b/c.csv" and for the folder "a/b/c/"; "" for "c.csv", "c/" and the top ("").
    """
    head, slash, _ = path.removesuffix("/").rpartition("/")
    return head + slash


def name_of(path: str) -> str:
    """The last part of a path: "c.csv" for "a/b/c.csv", "c" for the folder "a/b/c/"."""
    return path.removesuffix("/").rpartition("/")[2]
