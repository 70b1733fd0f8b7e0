"""Saved datasets: a dataset kept in the app's store and reopened by an unguessable link.

A saved dataset is a set of files (the canonical CSV tables of a loaded cohort, so only the
columns the loader kept are stored: nothing it refused, e.g. as an identifier, reaches the
store), the settings of the view it was shared with, who saved it (when sign-in is on) and
when it expires. The link carries a token of 192 bits (`secrets.token_urlsafe(24)`); the store
keeps only its SHA-256, so a copy of the database does not give away any link.

Storage is an embedded SQLite database in WAL mode in a data folder (`ISOTRET_DATA_DIR`,
default `store/` in the project folder). A team may point `ISOTRET_DATABASE_URL` at a server
database instead (`postgresql://user:password@host/db`, through psycopg; the first server process
to start creates the table) or at another SQLite file (`sqlite:////absolute/path.db`). Each save
is one transaction: a process killed mid-save leaves no half-saved dataset and loses none saved
before. Saved datasets expire after `ISOTRET_SHARE_DAYS` days (default 30); expired ones are
refused on open and purged.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analysis import PROJECT_DIR
from analysis.schema import SPECS, TABLES

DATA_DIR_ENV = "ISOTRET_DATA_DIR"
DATABASE_URL_ENV = "ISOTRET_DATABASE_URL"
SHARE_DAYS_ENV = "ISOTRET_SHARE_DAYS"
DEFAULT_DATA_DIR = PROJECT_DIR / "store"
DATABASE_FILE = "datasets.sqlite3"
DEFAULT_SHARE_DAYS = 30.0
TOKEN_BYTES = 24  # 192 bits of randomness; the issue asks for at least 128
SECONDS_PER_DAY = 86_400
BUSY_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10
SCHEMA_LOCK_KEY = 0x15_07_2E_7D  # PostgreSQL advisory lock taken while creating the table
# What a link's token can look like; anything else is refused before the database is asked.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

UNAVAILABLE = (
    "This link's saved dataset is not available: it has expired or been deleted, or the link is incomplete. "
    "The data must be uploaded again (Data page) and, if wanted, saved and shared again."
)
EXPIRED = (
    "This link's saved dataset has expired and was removed from the store. "
    "The data must be uploaded again (Data page) and, if wanted, saved and shared again."
)
DAMAGED = (
    "This link's saved dataset could not be read back intact, so it is not shown. The data must be uploaded again."
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS saved_datasets (
    token_hash TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    files {blob} NOT NULL,
    files_sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    settings TEXT NOT NULL,
    saved_by TEXT,
    saved_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
)
"""
EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS saved_datasets_expiry ON saved_datasets (expires_at)"


class DatasetUnavailable(LookupError):
    """A link whose dataset cannot be opened; the message is meant for the user."""


@dataclass(frozen=True)
class SavedDataset:
    label: str
    files: dict[str, bytes]
    settings: dict
    saved_by: str | None
    saved_at: datetime
    expires_at: datetime
    size_bytes: int
    sha256: str


def share_days_from_environment() -> float:
    """Days a saved dataset is kept: `ISOTRET_SHARE_DAYS`, default 30."""
    text = os.environ.get(SHARE_DAYS_ENV, "").strip()
    if not text:
        return DEFAULT_SHARE_DAYS
    days = float(text)
    if not days > 0:
        raise ValueError(f"{SHARE_DAYS_ENV} must be a positive number of days, not {text!r}")
    return days


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class DatasetStore:
    """Save, open, delete and purge saved datasets. Safe to share between threads and processes:
    every operation opens its own connection and writes in one transaction."""

    def __init__(
        self,
        location: str | Path | None = None,
        share_days: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.backend = _backend(location)
        self.share_days = DEFAULT_SHARE_DAYS if share_days is None else float(share_days)
        self.clock = clock
        self.backend.create_schema()

    @classmethod
    def from_environment(cls) -> DatasetStore:
        location = os.environ.get(DATABASE_URL_ENV) or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
        return cls(location, share_days_from_environment())

    @property
    def description(self) -> str:
        return self.backend.description

    def save(
        self, files: dict[str, bytes], label: str, settings: dict | None = None, saved_by: str | None = None
    ) -> str:
        """Stores the files and returns the link token (shown once; only its hash is kept)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        blob = pack_files(files)
        now = self.clock()
        row = (
            token_hash(token),
            label,
            blob,
            hashlib.sha256(blob).hexdigest(),
            len(blob),
            json.dumps(settings or {}, sort_keys=True),
            saved_by,
            now,
            now + self.share_days * SECONDS_PER_DAY,
        )
        with self.backend.transaction() as run:
            run("DELETE FROM saved_datasets WHERE expires_at <= ?", (now,))
            run(
                "INSERT INTO saved_datasets (token_hash, label, files, files_sha256, size_bytes, settings, saved_by, saved_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return token

    def open(self, token: str) -> SavedDataset:
        """The saved dataset of a link; DatasetUnavailable (with a plain message) for a wrong or expired token."""
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            raise DatasetUnavailable(UNAVAILABLE)
        row = self.backend.fetch_one(
            "SELECT label, files, files_sha256, size_bytes, settings, saved_by, saved_at, expires_at "
            "FROM saved_datasets WHERE token_hash = ?",
            (token_hash(token),),
        )
        if row is None:
            raise DatasetUnavailable(UNAVAILABLE)
        label, blob, digest, size, settings, saved_by, saved_at, expires_at = row
        if expires_at <= self.clock():
            self.purge_expired()
            raise DatasetUnavailable(EXPIRED)
        blob = bytes(blob)
        if hashlib.sha256(blob).hexdigest() != digest:
            raise DatasetUnavailable(DAMAGED)
        return SavedDataset(
            label,
            unpack_files(blob),
            json.loads(settings),
            saved_by,
            _moment(saved_at),
            _moment(expires_at),
            int(size),
            digest,
        )

    def delete(self, token: str) -> bool:
        """Removes the dataset of a link (whoever holds the link may); False when there was none."""
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            return False
        with self.backend.transaction() as run:
            return run("DELETE FROM saved_datasets WHERE token_hash = ?", (token_hash(token),)) > 0

    def purge_expired(self) -> int:
        with self.backend.transaction() as run:
            return run("DELETE FROM saved_datasets WHERE expires_at <= ?", (self.clock(),))

    def count(self) -> int:
        return int(self.backend.fetch_one("SELECT COUNT(*) FROM saved_datasets", ())[0])


# ---------------------------------------------------------------------------------------------
# What is stored: the canonical tables of a cohort, packed in one zip


def cohort_files(cohort) -> dict[str, bytes]:
    """The cohort as canonical CSV files (its validated rows, the canonical and custom columns).

    Derived fields are left out, and a cumulative dose the cohort integrated from visit doses is
    written as missing again, so that loading the files rebuilds the same cohort.
    """
    files = {}
    for name in TABLES:
        table = cohort.table(name)
        if name != "courses" and table.empty:
            continue
        columns = [c for c in SPECS[name].names if c in table.columns]
        if name == "courses":
            columns += list(cohort.custom_columns)
            table = table.assign(
                cumulative_dose_mg=table["cumulative_dose_mg"].where(table["cumulative_dose_source"] == "given")
            )
        files[f"{name}.csv"] = table[columns].to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")
    return files


def pack_files(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def unpack_files(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# ---------------------------------------------------------------------------------------------
# Databases: embedded SQLite (default) or a server database named by URL


def _backend(location: str | Path | None):
    text = str(location if location is not None else DEFAULT_DATA_DIR)
    if text.startswith(("postgresql://", "postgres://")):
        return _PostgresBackend(text)
    if text.startswith("sqlite:///"):
        return _SqliteBackend(Path(text.removeprefix("sqlite:///")))
    if "://" in text:
        raise ValueError(f"{DATABASE_URL_ENV} must start with sqlite:/// or postgresql://")
    return _SqliteBackend(Path(text) / DATABASE_FILE)


class _SqliteBackend:
    def __init__(self, path: Path):
        self.path = path
        self.description = f"SQLite file {path}"

    def create_schema(self) -> None:
        """Creators queue on a lock file: switching a new database to WAL takes a lock SQLite
        does not wait for, so server processes starting together would fail with "database is
        locked" instead of waiting their turn."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)) as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            with closing(self._connect()) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(SCHEMA.format(blob="BLOB"))
                connection.execute(EXPIRY_INDEX)
        os.chmod(self.path, 0o600)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Callable[[str, tuple], int]]:
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, parameters: connection.execute(sql, parameters).rowcount
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def fetch_one(self, sql: str, parameters: tuple):
        with closing(self._connect()) as connection:
            return connection.execute(sql, parameters).fetchone()


class _PostgresBackend:
    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError as error:
            raise RuntimeError(
                f"{DATABASE_URL_ENV} names a PostgreSQL database: install the psycopg package"
            ) from error
        self.psycopg = psycopg
        self.url = url
        self.description = "PostgreSQL database (" + re.sub(r"//[^@/]*@", "//", url) + ")"
        # An unreachable server fails the page within seconds rather than psycopg's two minutes.
        given = psycopg.conninfo.conninfo_to_dict(url)
        self.options = {} if "connect_timeout" in given else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}

    def create_schema(self) -> None:
        """Creates the table once. Server processes starting together would otherwise race:
        `CREATE TABLE IF NOT EXISTS` is not atomic in PostgreSQL (the loser fails on a duplicate
        catalog key), so creators queue on an advisory lock; and an existing table is left alone,
        since `CREATE INDEX IF NOT EXISTS` locks the table against saves under way."""
        if self.fetch_one("SELECT to_regclass('saved_datasets')", ())[0] is not None:
            return
        with self.transaction() as run:
            run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))
            run(SCHEMA.format(blob="BYTEA"), ())
            run(EXPIRY_INDEX, ())

    def _connect(self, autocommit: bool = False):
        return self.psycopg.connect(self.url, autocommit=autocommit, **self.options)

    @contextmanager
    def transaction(self) -> Iterator[Callable[[str, tuple], int]]:
        with self._connect() as connection, connection.transaction(), connection.cursor() as cursor:

            def run(sql: str, parameters: tuple) -> int:
                cursor.execute(sql.replace("?", "%s"), parameters)
                return cursor.rowcount

            yield run

    def fetch_one(self, sql: str, parameters: tuple):
        with self._connect(autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), parameters)
            return cursor.fetchone()
