"""Where a dataset's files live: a folder or a zip archive, behind one small read-only interface.

Loaders list and read files through a :class:`FileSource` so that the same code reads BUSI from the folder a user
unpacked and straight from the downloaded zip.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

from benchmark.errors import BusbenchError

# Files that operating systems and archivers sprinkle into folders; never data.
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def is_junk(rel_path: str) -> bool:
    """Tell whether a relative path is operating-system clutter (``__MACOSX``, ``.DS_Store``, hidden files)."""
    parts = PurePosixPath(rel_path).parts
    return any(p == "__MACOSX" or p.startswith(".") or p.lower() in _JUNK_NAMES for p in parts)


class FileSource:
    """Read-only access to the files of a dataset, addressed by POSIX paths relative to the source root."""

    #: Absolute path of the folder or archive, shown in messages.
    location: Path

    def files(self) -> list[str]:
        """All regular files, junk excluded, as sorted relative POSIX paths."""
        raise NotImplementedError

    def dirs(self) -> list[str]:
        """All folders, junk excluded, as sorted relative POSIX paths."""
        raise NotImplementedError

    def read(self, rel_path: str) -> bytes:
        """The bytes of one file."""
        raise NotImplementedError

    def stat_key(self, rel_path: str) -> str:
        """A cheap key that changes whenever the file's content may have changed (size and mtime, or CRC)."""
        raise NotImplementedError

    def display(self, rel_path: str) -> str:
        """How to name a file in an error message (a real path, or ``archive.zip:member``)."""
        raise NotImplementedError

    @property
    def identity(self) -> str:
        """A string naming this source on this machine, for cache keys."""
        return str(self.location)


class DirSource(FileSource):
    """Files under a folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.location = Path(root).resolve()
        if not self.location.is_dir():
            raise BusbenchError(root, "is not a folder")
        self._files: list[str] | None = None
        self._dirs: list[str] | None = None

    def _scan(self) -> None:
        files: list[str] = []
        dirs: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.location):
            rel_dir = Path(dirpath).relative_to(self.location).as_posix()
            prefix = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [d for d in dirnames if not is_junk(d)]
            dirs.extend(prefix + d for d in dirnames)
            files.extend(prefix + f for f in filenames if not is_junk(prefix + f))
        self._files, self._dirs = sorted(files), sorted(dirs)

    def files(self) -> list[str]:  # noqa: D102
        if self._files is None:
            self._scan()
        return list(self._files or [])

    def dirs(self) -> list[str]:  # noqa: D102
        if self._dirs is None:
            self._scan()
        return list(self._dirs or [])

    def read(self, rel_path: str) -> bytes:  # noqa: D102
        try:
            return (self.location / rel_path).read_bytes()
        except OSError as exc:
            raise BusbenchError(self.display(rel_path), f"cannot be read ({exc.strerror or exc})") from exc

    def stat_key(self, rel_path: str) -> str:  # noqa: D102
        st = (self.location / rel_path).stat()
        return f"{st.st_size}-{st.st_mtime_ns}"

    def display(self, rel_path: str) -> str:  # noqa: D102
        return str(self.location / rel_path)


class ZipSource(FileSource):
    """Members of a zip archive, read without unpacking it."""

    def __init__(self, archive: str | os.PathLike[str]):
        self.location = Path(archive).resolve()
        try:
            self._zip = zipfile.ZipFile(self.location)
        except (OSError, zipfile.BadZipFile) as exc:
            raise BusbenchError(archive, f"is not a readable zip archive ({exc})") from exc
        self._infos = {i.filename.rstrip("/"): i for i in self._zip.infolist() if not is_junk(i.filename.rstrip("/"))}

    def files(self) -> list[str]:  # noqa: D102
        return sorted(n for n, i in self._infos.items() if not i.is_dir())

    def dirs(self) -> list[str]:  # noqa: D102
        # Archives need not store folder entries, so derive folders from member paths too.
        found = {n for n, i in self._infos.items() if i.is_dir()}
        for name in self.files():
            parts = PurePosixPath(name).parts[:-1]
            found.update("/".join(parts[: k + 1]) for k in range(len(parts)))
        return sorted(found)

    def read(self, rel_path: str) -> bytes:  # noqa: D102
        try:
            return self._zip.read(self._infos[rel_path])
        except (KeyError, OSError, zipfile.BadZipFile) as exc:
            raise BusbenchError(self.display(rel_path), f"cannot be read from the archive ({exc})") from exc

    def stat_key(self, rel_path: str) -> str:  # noqa: D102
        info = self._infos[rel_path]
        return f"{info.file_size}-{info.CRC:08x}"

    def display(self, rel_path: str) -> str:  # noqa: D102
        return f"{self.location}:{rel_path}"


def open_source(path: str | os.PathLike[str]) -> FileSource:
    """Open a folder or a ``.zip`` archive as a :class:`FileSource`.

    Raises:
        BusbenchError: If the path does not exist or is neither a folder nor a zip archive.
    """
    p = Path(path)
    if p.is_dir():
        return DirSource(p)
    if p.is_file() and zipfile.is_zipfile(p):
        return ZipSource(p)
    if not p.exists():
        raise BusbenchError(path, "does not exist")
    raise BusbenchError(path, "is neither a folder nor a zip archive")
