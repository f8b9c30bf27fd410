"""Where checkpoint files live: a local directory or an object-store prefix, each written atomically."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

#: A save's temporary file in a local directory: `.<final name>.<random>.tmp`.
TEMPORARY = re.compile(r"^\.ckpt-e\d{6}-b\d{9}\.pt\.[A-Za-z0-9_]+\.tmp$")
#: The temporary files that earlier versions of this library left (`.tmp-<random>.pt`).
LEGACY_TEMPORARY = re.compile(r"^\.tmp-[A-Za-z0-9_]+\.pt$")

Writer = Callable[[IO[bytes]], None]


class Storage(Protocol):
    """The few operations a checkpoint store needs from where its files live."""

    def names(self) -> list[str]:
        """The names of the files present (not the temporaries of unfinished writes)."""
        ...

    def location(self, name: str) -> str:
        """The full path or URL of `name`, as logs and the status show it."""
        ...

    def write(self, name: str, writer: Writer) -> str:
        """Create `name` with what `writer` writes; no reader ever sees it partly written."""
        ...

    def open(self, name: str) -> IO[bytes]:
        """Open `name` for reading."""
        ...

    def delete(self, name: str) -> None:
        """Delete `name` if it is there."""
        ...

    def remove_temporaries(self) -> list[str]:
        """Delete what interrupted writes left behind; the names removed."""
        ...


class LocalStorage:
    """A directory: write to a temporary file beside the target, fsync, rename, fsync the directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def names(self) -> list[str]:
        """The files in the directory (none when it does not exist yet)."""
        if not self.directory.is_dir():
            return []
        return [entry.name for entry in self.directory.iterdir()]

    def location(self, name: str) -> str:
        """The file's path."""
        return str(self.directory / name)

    def write(self, name: str, writer: Writer) -> str:
        """Write through a temporary file that only a complete, synced write renames to `name`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                writer(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._fsync_directory()
        return self.location(name)

    def open(self, name: str) -> IO[bytes]:
        """Open the file."""
        return (self.directory / name).open("rb")

    def delete(self, name: str) -> None:
        """Unlink the file."""
        (self.directory / name).unlink(missing_ok=True)

    def remove_temporaries(self) -> list[str]:
        """Unlink the temporary files of writes that a killed process never finished."""
        stale = [name for name in self.names() if TEMPORARY.match(name) or LEGACY_TEMPORARY.match(name)]
        for name in stale:
            self.delete(name)
        return stale

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ObjectStorage:
    """A prefix in an object store (`s3://bucket/prefix`, through fsspec and s3fs).

    An object becomes visible only when its upload completes (one PUT, or the completion of
    a multipart upload), so an object is written under its final key; a failed write aborts
    the upload. A killed writer leaves at most an unfinished multipart upload, which no
    listing shows (a bucket lifecycle rule for incomplete uploads reclaims its space).
    Credentials come from the usual places: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) and `AWS_REGION` in the environment.
    """

    def __init__(self, url: str) -> None:
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        self.fs: Any
        # Its own client, with the credentials of the environment now (not one cached by fsspec).
        self.fs, self.root = url_to_fs(self.url, skip_instance_cache=True, **_endpoint_options(self.url))

    def names(self) -> list[str]:
        """The objects directly under the prefix, read afresh."""
        try:
            entries = self.fs.ls(self.root, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def location(self, name: str) -> str:
        """The object's URL."""
        return f"{self.url}/{name}"

    def write(self, name: str, writer: Writer) -> str:
        """Upload under the final key; an error aborts the upload, so nothing partial appears."""
        handle = self.fs.open(f"{self.root}/{name}", "wb")
        try:
            writer(handle)
        except BaseException:
            handle.discard()
            handle.closed = True  # else the file would upload what it has when collected
            raise
        handle.close()
        return self.location(name)

    def open(self, name: str) -> IO[bytes]:
        """Open the object for reading."""
        return self.fs.open(f"{self.root}/{name}", "rb")  # type: ignore[no-any-return]

    def delete(self, name: str) -> None:
        """Delete the object."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.root}/{name}")

    def remove_temporaries(self) -> list[str]:
        """Nothing to remove: an unfinished upload never shows as an object."""
        return []


def is_object_store(location: str) -> bool:
    """Whether `location` is an object-store URL (`s3://...`) rather than a filesystem path."""
    scheme, separator, _ = location.partition("://")
    return bool(separator) and scheme != "file"


def open_storage(location: str | os.PathLike[str]) -> Storage:
    """The storage for a checkpoint path: `s3://bucket/prefix` or a local directory."""
    text = os.fspath(location)
    if is_object_store(text):
        return ObjectStorage(text)
    return LocalStorage(text.removeprefix("file://"))


def _endpoint_options(url: str) -> dict[str, Any]:
    """s3fs options from the environment that botocore does not read by itself in every version."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}
