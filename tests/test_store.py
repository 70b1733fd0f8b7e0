"""The saved-dataset store on both back ends (embedded SQLite and a real PostgreSQL server): save, open
by link, wrong token, expiry, deletion, who saved it, schema creation, concurrency, crash safety."""

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    import psycopg
except ImportError:  # the PostgreSQL tests then skip; requirements.txt installs it
    psycopg = None

from analysis.cohort.loading import load_demo, load_tables
from analysis.outputs.store import (
    DATABASE_FILE,
    DEFAULT_SHARE_DAYS,
    EXPIRED,
    SHARE_DAYS_ENV,
    UNAVAILABLE,
    DatasetStore,
    DatasetUnavailable,
    cohort_files,
    share_days_from_environment,
    token_hash,
)

ROOT = Path(__file__).resolve().parent.parent
FILES = {"courses.csv": b"patient_id,sex,age\nP1,F,20\nP2,M,31\n", "visits.csv": b"patient_id,day,iga\nP1,0,3\n"}
SERVER_USER = "isotret"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------
# A throwaway PostgreSQL server for the session: initdb + pg_ctl in a temp folder, on a free port


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on the PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + debian
    return next(
        (folder for folder in candidates if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file()), None
    )


def unprivileged_account() -> dict:
    """subprocess arguments that run the server as an ordinary user: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and neither a postgres nor a nobody account exists to run PostgreSQL as")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, statement: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(statement)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster of its own (password sign-in over loopback, its socket in its temp folder),
    stopped and removed after the session."""
    if psycopg is None:
        pytest.skip("psycopg is not installed (requirements.txt installs it)")
    binaries = postgres_bin_dir()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on the PATH or in /usr/lib/postgresql/*/bin")
    account = unprivileged_account()
    folder = Path(tempfile.mkdtemp(prefix="isotret-pg-"))
    data, password = folder / "data", secrets.token_urlsafe(16)
    (folder / "password").write_text(password)
    if account:
        os.chown(folder, account["user"], account["group"])
        os.chown(folder / "password", account["user"], account["group"])
    run = dict(cwd=folder, check=True, capture_output=True, text=True, **account)
    port = free_port()
    try:
        subprocess.run(
            [
                binaries / "initdb",
                "-D",
                data,
                "-U",
                SERVER_USER,
                f"--pwfile={folder / 'password'}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            **run,
        )
        with open(data / "postgresql.conf", "a") as settings:
            settings.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{folder}'\n"
                "fsync = off\nfull_page_writes = off\n"
            )
        subprocess.run([binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "start"], **run)
    except subprocess.CalledProcessError as error:
        log = folder / "server.log"
        message = f"the test PostgreSQL server did not start: {error.stderr}{log.read_text() if log.exists() else ''}"
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(message) from error
    try:
        yield PostgresServer(port, password)
    finally:
        subprocess.run([binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], **{**run, "check": False})
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Each test runs on both back ends, each time on an empty database of its own


class SqliteDatabase:
    def __init__(self, folder: Path):
        self.location = folder

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.location / DATABASE_FILE) as connection:
            return connection.execute(sql).fetchall()

    def dump(self) -> str:
        with sqlite3.connect(self.location / DATABASE_FILE) as connection:
            return "\n".join(connection.iterdump())

    def intact(self) -> bool:
        return self.rows("PRAGMA integrity_check") == [("ok",)]

    def transaction_under_way(self) -> bool:
        """Whether another connection holds the write lock (a save between BEGIN IMMEDIATE and COMMIT)."""
        with closing(sqlite3.connect(self.location / DATABASE_FILE, timeout=0, isolation_level=None)) as connection:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # database is locked
                return True
            connection.execute("ROLLBACK")
            return False

    def reset(self) -> None:
        shutil.rmtree(self.location, ignore_errors=True)


class PostgresDatabase:
    def __init__(self, url: str):
        self.location = url

    def rows(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.location) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def dump(self) -> str:
        return "\n".join(row[0] for row in self.rows("SELECT saved_datasets::text FROM saved_datasets"))

    def intact(self) -> bool:
        """The server outlives a killed client, so its files are not in question; the killed client's
        session must end, so that it holds no lock and no open transaction."""
        others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        deadline = time.monotonic() + 10
        while self.rows(others) != [(0,)]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def transaction_under_way(self) -> bool:
        return self.rows(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        ) != [(0,)]

    def reset(self) -> None:
        self.rows("DROP TABLE IF EXISTS saved_datasets")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteDatabase(tmp_path / "store")
        return
    server = request.getfixturevalue("postgres_server")
    schema = f"store_{secrets.token_hex(6)}"  # a schema per test: as empty as a new database, and far faster to make
    server.admin(f"CREATE SCHEMA {schema}")
    yield PostgresDatabase(f"{server.url()}?options=-csearch_path%3D{schema}")
    server.admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module")
def demo_result():
    return load_demo()


@pytest.fixture
def store(database):
    return DatasetStore(database.location, clock=Clock())


def test_save_then_open_by_token(store):
    token = store.save(FILES, "my clinic", settings={"page": "clearance", "sex": ["F"]}, saved_by="a@example.org")
    saved = store.open(token)
    assert saved.files == FILES
    assert saved.label == "my clinic"
    assert saved.settings == {"page": "clearance", "sex": ["F"]}
    assert saved.saved_by == "a@example.org"
    assert (saved.expires_at - saved.saved_at).days == DEFAULT_SHARE_DAYS


def test_token_has_at_least_128_bits_and_only_its_hash_is_stored(store, database):
    tokens = {store.save(FILES, "x") for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 32 for t in tokens)  # 24 random bytes, base64url: 192 bits
    assert {row[0] for row in database.rows("SELECT token_hash FROM saved_datasets")} == {token_hash(t) for t in tokens}
    dump = database.dump()
    assert not any(t in dump for t in tokens)


@pytest.mark.parametrize("wrong", ["", "short", "x" * 32, "../../etc/passwd", "a" * 500, None])
def test_wrong_token_is_refused_with_a_plain_message(store, wrong):
    store.save(FILES, "x")
    with pytest.raises(DatasetUnavailable) as refused:
        store.open(wrong)
    assert str(refused.value) == UNAVAILABLE
    assert "uploaded again" in UNAVAILABLE


def test_a_token_differing_in_one_character_is_refused(store):
    token = store.save(FILES, "x")
    other = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(DatasetUnavailable):
        store.open(other)


def test_expiry_is_enforced_on_open_and_purged(database):
    clock = Clock()
    store = DatasetStore(database.location, share_days=2, clock=clock)
    token = store.save(FILES, "x")
    clock.now += 2 * 86_400 - 1
    assert store.open(token).files == FILES
    clock.now += 1
    with pytest.raises(DatasetUnavailable) as refused:
        store.open(token)
    assert str(refused.value) == EXPIRED
    assert store.count() == 0


def test_expired_datasets_are_purged_when_another_is_saved(database):
    clock = Clock()
    store = DatasetStore(database.location, share_days=1, clock=clock)
    store.save(FILES, "old")
    clock.now += 86_400
    store.save(FILES, "new")
    assert store.count() == 1


def test_share_days_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(SHARE_DAYS_ENV, raising=False)
    assert share_days_from_environment() == 30
    monkeypatch.setenv(SHARE_DAYS_ENV, "7")
    assert share_days_from_environment() == 7
    monkeypatch.setenv(SHARE_DAYS_ENV, "0")
    with pytest.raises(ValueError):
        share_days_from_environment()


def test_store_location_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ISOTRET_DATABASE_URL", raising=False)
    monkeypatch.setenv("ISOTRET_DATA_DIR", str(tmp_path / "data"))
    store = DatasetStore.from_environment()
    store.save(FILES, "x")
    assert (tmp_path / "data" / DATABASE_FILE).is_file()
    monkeypatch.setenv("ISOTRET_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    DatasetStore.from_environment().save(FILES, "y")
    assert (tmp_path / "other.db").is_file()
    monkeypatch.setenv("ISOTRET_DATABASE_URL", "mysql://host/db")
    with pytest.raises(ValueError):
        DatasetStore.from_environment()


def test_a_server_database_is_named_by_url_and_its_password_is_never_shown(monkeypatch, postgres_server):
    monkeypatch.setenv("ISOTRET_DATABASE_URL", postgres_server.url())
    store = DatasetStore.from_environment()
    assert store.open(store.save(FILES, "x")).files == FILES
    assert store.description.startswith("PostgreSQL database") and postgres_server.password not in store.description


def test_delete_by_token_holder(store):
    token = store.save(FILES, "x")
    keep = store.save(FILES, "y")
    assert store.delete(token) is True
    assert store.delete(token) is False
    with pytest.raises(DatasetUnavailable):
        store.open(token)
    assert store.open(keep).label == "y"
    assert store.delete("not a token") is False


def test_sqlite_database_uses_wal_and_private_permissions(tmp_path):
    DatasetStore(tmp_path)
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / DATABASE_FILE).stat().st_mode & 0o077 == 0


def test_concurrent_saves_and_reads_from_threads(database):
    store = DatasetStore(database.location)

    def save_and_read(index: int) -> bool:
        files = {"courses.csv": f"patient_id,sex,age\nP{index},F,{20 + index % 50}\n".encode() * (1 + index % 7)}
        token = store.save(files, f"set {index}")
        return store.open(token).files == files

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(save_and_read, range(80)))
    assert all(results)
    assert store.count() == 80


WRITER = """
import os, sys
from analysis.outputs.store import DatasetStore
store = DatasetStore(sys.argv[1])
size, count = int(sys.argv[2]), int(sys.argv[3])
for index in range(count):
    payload = bytes([index % 251]) * 8 + os.urandom(size)
    token = store.save({"courses.csv": payload}, f"set {index}")
    print(token, flush=True)
"""


def _writer(location, size: int, count: int) -> subprocess.Popen:
    """A process that saves `count` datasets, printing each link's token."""
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(location), str(size), str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_app_processes_starting_together_on_an_empty_database_all_open_the_store(database):
    """Each connection stands for a server process of its own; all try to create the table at the same moment.
    Rounds are repeated because a lost race is rare (about 1 round in 50 on a busy machine without the fix)."""
    for _ in range(20):
        database.reset()
        starting_line = threading.Barrier(8)

        def start_and_save(_, starting_line=starting_line) -> str:
            starting_line.wait()
            return DatasetStore(database.location).save(FILES, "x")

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert len(set(pool.map(start_and_save, range(8)))) == 8
        assert DatasetStore(database.location).count() == 8


def test_opening_the_store_does_not_wait_for_a_save_under_way(database):
    """A server process starting up must not queue behind a long save (PostgreSQL's `CREATE INDEX IF NOT
    EXISTS` would: it locks the table even when the index exists)."""
    store = DatasetStore(database.location)
    with ThreadPoolExecutor(max_workers=1) as pool, store.backend.transaction() as run:
        run(
            "DELETE FROM saved_datasets WHERE expires_at <= ?", (0.0,)
        )  # a save's first statement: it now holds the table
        assert pool.submit(DatasetStore, database.location).result(timeout=10).count() == 0


def test_concurrent_saves_from_processes(database):
    writers = [_writer(database.location, 20_000, 15) for _ in range(3)]
    reader = DatasetStore(database.location)
    tokens = []
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        tokens += out.split()
    assert len(tokens) == 45 and reader.count() == 45
    assert all(len(reader.open(t).files["courses.csv"]) == 20_008 for t in tokens)


def test_a_writer_killed_mid_save_loses_nothing_and_leaves_nothing_half_saved(database):
    store = DatasetStore(database.location)
    before = store.save(FILES, "saved before the crash")
    writer = _writer(database.location, 6_000_000, 1_000)  # incompressible payloads: each save takes a while
    committed = [writer.stdout.readline().strip() for _ in range(3)]
    deadline = time.monotonic() + 60
    while not database.transaction_under_way():  # the next save has begun writing
        assert time.monotonic() < deadline, "the writer's next save never reached the database"
        time.sleep(0.002)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    reopened = DatasetStore(database.location)
    assert reopened.open(before).files == FILES
    for token in committed:
        assert len(reopened.open(token).files["courses.csv"]) == 6_000_008
    assert database.intact()
    rows = database.rows("SELECT files, files_sha256, size_bytes FROM saved_datasets")
    # Every row is whole: a save either committed entirely or left nothing.
    assert all(hashlib.sha256(blob).hexdigest() == digest and len(blob) == size for blob, digest, size in rows)
    assert len(rows) in (1 + len(committed), 2 + len(committed))


def test_cohort_round_trips_through_the_store(store, demo_result):
    cohort = demo_result.cohort
    token = store.save(cohort_files(cohort), "demo copy")
    reloaded = load_tables(store.open(token).files, source="demo copy").cohort
    assert reloaded.row_counts() == cohort.row_counts()
    assert (
        reloaded.courses["cumulative_dose_source"].value_counts().to_dict()
        == cohort.courses["cumulative_dose_source"].value_counts().to_dict()
    )
    assert (
        reloaded.courses["daily_dose_band"].value_counts().to_dict()
        == cohort.courses["daily_dose_band"].value_counts().to_dict()
    )


def test_hand_made_cohort_round_trips(tiny_cohort):
    reloaded = load_tables(cohort_files(tiny_cohort), source="tiny").cohort
    assert reloaded.row_counts() == tiny_cohort.row_counts()
    columns = ["patient_id", "baseline_iga", "cumulative_dose_mg", "cumulative_dose_source", "arm"]
    assert reloaded.courses[columns].astype(str).equals(tiny_cohort.courses[columns].astype(str))


def test_only_kept_columns_are_saved_never_identifiers(store):
    upload = (
        b"patient_id,sex,age,email,patient_name,favourite_colour,,\n"
        b"P1,F,20,ann@example.org,Ann Smith,blue,,\nP2,M,30,bob@example.org,Bob Jones,red,,\n"
    )
    result = load_tables({"courses.csv": upload}, "x")
    token = store.save(cohort_files(result.cohort), "x")
    saved = store.open(token).files
    assert set(saved) == {"courses.csv"}  # empty tables are not stored
    text = saved["courses.csv"].decode()
    header = text.splitlines()[0].split(",")
    assert all(header) and "favourite_colour" in header  # a custom column the loader kept
    assert "email" not in header and "patient_name" not in header
    assert "example.org" not in text and "Smith" not in text
