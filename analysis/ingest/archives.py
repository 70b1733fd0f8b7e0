"""Zip and gzip uploads expanded as streams, within limits, so that a compressed bomb is refused, not obeyed.

A few megabytes of zip can hold gigabytes of text. Every member (and every gzip file) is read a
chunk at a time and counted against three limits: the bytes one file may expand to, the bytes all
files of one upload may expand to together, and how many times its compressed size a file may
grow (real CSV files shrink 4-10 times; a bomb, about a thousand). Reading stops at the first
limit crossed, and the refusal names the archive, the member and the limit. Archives inside
archives are opened two levels deep; members that would lead outside the archive (`..`, absolute
paths) or that are links are skipped and named. The limits are settable (`ExpansionLimits`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass

CHUNK_BYTES = 4 * 2**20
RATIO_FLOOR_BYTES = 16 * 2**20  # the ratio is judged once a file has grown past this
ARCHIVE_DEPTH = 2  # an archive, and archives inside it; deeper ones are named, not opened
MB = 2**20
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
)


class ReadError(Exception):
    """A file that cannot be read at all; the message is meant for the user."""


class ExpansionRefused(ReadError):
    """A compressed file that would expand past a limit: refused before it takes the memory."""


@dataclass(frozen=True)
class ExpansionLimits:
    """How far compressed uploads may expand; each is settable by an environment variable."""

    file_mb: int = 2048  # ISOTRET_MAX_EXPANDED_FILE_MB: one member or gzip file
    total_mb: int = 4096  # ISOTRET_MAX_EXPANDED_TOTAL_MB: every compressed file of one upload together
    ratio: int = 100  # ISOTRET_MAX_EXPANSION_RATIO: expanded size / compressed size

    @classmethod
    def from_environment(cls) -> ExpansionLimits:
        defaults = cls()
        return cls(
            _setting("ISOTRET_MAX_EXPANDED_FILE_MB", defaults.file_mb),
            _setting("ISOTRET_MAX_EXPANDED_TOTAL_MB", defaults.total_mb),
            _setting("ISOTRET_MAX_EXPANSION_RATIO", defaults.ratio),
        )


def _setting(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class Expansion:
    """The bytes one upload's compressed files have expanded to so far, held against the limits."""

    def __init__(self, limits: ExpansionLimits | None = None):
        self.limits = limits or ExpansionLimits.from_environment()
        self.total = 0
        self.refused_files: list[str] = []  # files of the upload refused for a limit (to drop them)

    def read(self, stream, compressed: int, where: str, consumed=None) -> bytes:
        """The whole stream, or ReadError naming `where` and the limit as soon as one is crossed.

        `consumed()` tells how many compressed bytes were read so far, so that a bomb is judged
        by its ratio after a few megabytes rather than after `ratio` times its whole size.
        """
        chunks, size = [], 0
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            self.check(size, consumed() if consumed else compressed, where, compressed)
            chunks.append(chunk)
        self.total += size
        return b"".join(chunks)

    def check(self, size: int, compressed: int, where: str, whole: int | None = None) -> None:
        """Refuses a file (declared or partly read) of `size` bytes from `compressed` bytes (of `whole`)."""
        limits = self.limits
        if size > limits.file_mb * MB:
            raise ExpansionRefused(
                f"{where} expands to more than {limits.file_mb:,} MB, the limit for one file; it was not "
                "read (ISOTRET_MAX_EXPANDED_FILE_MB sets the limit)"
            )
        if self.total + size > limits.total_mb * MB:
            raise ExpansionRefused(
                f"{where} would take the upload's files past {limits.total_mb:,} MB expanded, the limit "
                "for one upload; it was not read (ISOTRET_MAX_EXPANDED_TOTAL_MB sets the limit)"
            )
        if size > RATIO_FLOOR_BYTES and size > limits.ratio * max(compressed, 1):
            raise ExpansionRefused(
                f"{where} expands to more than {limits.ratio:,} times its compressed size of "
                f"{_size_words(whole or compressed)}, which no real data file does (a compressed bomb); it was not "
                "read (ISOTRET_MAX_EXPANSION_RATIO sets the limit)"
            )


def _size_words(size: int) -> str:
    return f"{size / MB:,.1f} MB" if size >= MB / 10 else f"{size:,} bytes"


# ---------------------------------------------------------------------------------------------
# Zip


def expand_archives(
    files: dict[str, bytes], expansion: Expansion | None = None
) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """The files with each .zip (or zip-content file named otherwise) replaced by its members.

    Returns the files and (archive or member, reason) for each archive that could not be opened
    and each member that was skipped.
    """
    expansion = expansion or Expansion()
    expanded: dict[str, bytes] = {}
    problems: list[tuple[str, str]] = []
    for name, data in files.items():
        refusals = len(expansion.refused_files)
        _expand(name, data, [], expanded, problems, expansion)
        if len(expansion.refused_files) > refusals:
            expansion.refused_files[refusals:] = [name]
    return expanded, problems


def _expand(name: str, data: bytes, parents: list[str], expanded: dict, problems: list, expansion: Expansion) -> None:
    if not is_archive(name, data):
        expanded.setdefault(name, data)
        return
    if len(parents) >= ARCHIVE_DEPTH:
        problems.append(
            (
                name,
                f"an archive inside {' inside '.join(parents)}: archives are opened only "
                f"{ARCHIVE_DEPTH} levels deep, so it was not read; unpack it and upload its files",
            )
        )
        return
    try:
        members, skipped = unzip(data, name, expansion)
    except ExpansionRefused as error:
        problems.append((name, str(error)))
        expansion.refused_files.append(name)
        return
    except ReadError as error:
        problems.append((name, str(error)))
        return
    problems.extend(skipped)
    for member, content in members.items():
        _expand(member, content, [name, *parents], expanded, problems, expansion)


def is_archive(name: str, data: bytes) -> bool:
    if name.lower().endswith(".zip"):
        return True
    return data[:4] == b"PK\x03\x04" and not is_workbook(data)


def is_workbook(data: bytes) -> bool:
    """An Excel .xlsx/.xlsm workbook is a zip holding xl/workbook.xml."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(name.startswith("xl/workbook") for name in archive.namelist())
    except ARCHIVE_ERRORS:
        return False


def unzip(
    data: bytes, archive_name: str = "the archive", expansion: Expansion | None = None
) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """Member file name (without folders) -> bytes, and (member, reason) for members skipped as unsafe.

    Hidden files and folders (`.DS_Store`, `__MACOSX`) are left out without a word: they are not data.
    """
    expansion = expansion or Expansion()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            skipped = [(m, _unsafe(m)) for m in members if _unsafe(m)]
            members = [m for m in members if not _unsafe(m) and not is_hidden(m.filename)]
            _check_declared(members, archive_name, expansion)
            return _members(archive, members, archive_name, expansion), [
                (f"{m.filename} in {archive_name}", reason) for m, reason in skipped
            ]
    except ARCHIVE_ERRORS as error:
        raise ReadError(f"not a readable zip archive ({error})") from error


def _unsafe(member: zipfile.ZipInfo) -> str | None:
    """Why a member is not read: a path leading outside the archive, an absolute path, or a link."""
    parts = re.split(r"[\\/]", member.filename)
    if ".." in parts:
        return "its path leads outside the archive (..), so it was not read"
    if member.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.filename):
        return "its path is absolute, so it was not read"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "it is a link to another file, not a file, so it was not read"
    return None


def _check_declared(members: list[zipfile.ZipInfo], archive_name: str, expansion: Expansion) -> None:
    """Sizes the archive declares are checked before anything is expanded (a zip reader never
    gives more than a member declares, so this alone stops a lying archive)."""
    for member in members:
        expansion.check(member.file_size, member.compress_size, _where(member, archive_name))
    declared = sum(m.file_size for m in members)
    if expansion.total + declared > expansion.limits.total_mb * MB:
        raise ExpansionRefused(
            f"{archive_name} declares {declared / MB:,.0f} MB of files, more than the "
            f"{expansion.limits.total_mb:,} MB one upload may expand to; it was not read "
            "(ISOTRET_MAX_EXPANDED_TOTAL_MB sets the limit)"
        )


def _members(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], archive_name: str, expansion: Expansion
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for member in members:
        base = re.split(r"[\\/]", member.filename)[-1]
        with archive.open(member) as stream:
            content = expansion.read(
                stream,
                member.compress_size,
                _where(member, archive_name),
                lambda stream=stream, member=member: member.compress_size - getattr(stream, "_compress_left", 0),
            )
        files[base if base not in files else member.filename] = content
    return files


def _where(member: zipfile.ZipInfo, archive_name: str) -> str:
    return f"{member.filename} in {archive_name}"


def is_hidden(name: str) -> bool:
    parts = [part for part in re.split(r"[\\/]", name) if part not in ("", ".", "..")]
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


# ---------------------------------------------------------------------------------------------
# Gzip


def gunzip(data: bytes, name: str, expansion: Expansion | None = None) -> bytes:
    """A gzip file's content, read a chunk at a time within the limits."""
    expansion = expansion or Expansion()
    source = io.BytesIO(data)
    try:
        with gzip.GzipFile(fileobj=source) as stream:
            return expansion.read(stream, len(data), name, source.tell)
    except (OSError, EOFError, zlib.error) as error:
        raise ReadError(f"not a readable gzip file ({error})") from error
