"""The saved-dataset store: save, open by link, wrong token, expiry, deletion, concurrency, crash safety."""
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analysis.loading import load_demo, load_tables
from analysis.store import (DATABASE_FILE, DEFAULT_SHARE_DAYS, EXPIRED, SHARE_DAYS_ENV, UNAVAILABLE, DatasetStore,
                            DatasetUnavailable, cohort_files, share_days_from_environment, token_hash)

ROOT = Path(__file__).resolve().parent.parent
FILES = {"courses.csv": b"patient_id,sex,age\nP1,F,20\nP2,M,31\n", "visits.csv": b"patient_id,day,iga\nP1,0,3\n"}


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def demo_result():
    return load_demo()


@pytest.fixture
def store(tmp_path):
    return DatasetStore(tmp_path, clock=Clock())


def test_save_then_open_by_token(store):
    token = store.save(FILES, "my clinic", settings={"page": "clearance", "sex": ["F"]}, saved_by="a@example.org")
    saved = store.open(token)
    assert saved.files == FILES
    assert saved.label == "my clinic"
    assert saved.settings == {"page": "clearance", "sex": ["F"]}
    assert saved.saved_by == "a@example.org"
    assert (saved.expires_at - saved.saved_at).days == DEFAULT_SHARE_DAYS


def test_token_has_at_least_128_bits_and_only_its_hash_is_stored(store, tmp_path):
    tokens = {store.save(FILES, "x") for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 32 for t in tokens)  # 24 random bytes, base64url: 192 bits
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        stored = {row[0] for row in connection.execute("SELECT token_hash FROM saved_datasets")}
        dump = "\n".join(connection.iterdump())
    assert stored == {token_hash(t) for t in tokens}
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


def test_expiry_is_enforced_on_open_and_purged(tmp_path):
    clock = Clock()
    store = DatasetStore(tmp_path, share_days=2, clock=clock)
    token = store.save(FILES, "x")
    clock.now += 2 * 86_400 - 1
    assert store.open(token).files == FILES
    clock.now += 1
    with pytest.raises(DatasetUnavailable) as refused:
        store.open(token)
    assert str(refused.value) == EXPIRED
    assert store.count() == 0


def test_expired_datasets_are_purged_when_another_is_saved(tmp_path):
    clock = Clock()
    store = DatasetStore(tmp_path, share_days=1, clock=clock)
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


def test_delete_by_token_holder(store):
    token = store.save(FILES, "x")
    keep = store.save(FILES, "y")
    assert store.delete(token) is True
    assert store.delete(token) is False
    with pytest.raises(DatasetUnavailable):
        store.open(token)
    assert store.open(keep).label == "y"
    assert store.delete("not a token") is False


def test_database_uses_wal_and_private_permissions(store, tmp_path):
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / DATABASE_FILE).stat().st_mode & 0o077 == 0


def test_concurrent_saves_and_reads_from_threads(tmp_path):
    store = DatasetStore(tmp_path)

    def save_and_read(index: int) -> bool:
        files = {"courses.csv": f"patient_id,sex,age\nP{index},F,{20 + index % 50}\n".encode() * (1 + index % 7)}
        token = store.save(files, f"set {index}")
        return store.open(token).files == files

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(save_and_read, range(80)))
    assert all(results)
    assert store.count() == 80


WRITER = """
import sys
from analysis.store import DatasetStore
store = DatasetStore(sys.argv[1])
size, count = int(sys.argv[2]), int(sys.argv[3])
for index in range(count):
    payload = bytes([index % 251]) * 8 + __import__("os").urandom(size)
    token = store.save({"courses.csv": payload}, f"set {index}")
    print(token, flush=True)
"""


def _writer(folder: Path, size: int, count: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(size), str(count)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_concurrent_saves_from_processes(tmp_path):
    writers = [_writer(tmp_path, 20_000, 15) for _ in range(3)]
    reader = DatasetStore(tmp_path)
    tokens = []
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        tokens += out.split()
    assert len(tokens) == 45 and reader.count() == 45
    assert all(len(reader.open(t).files["courses.csv"]) == 20_008 for t in tokens)


def test_a_writer_killed_mid_save_loses_nothing_and_leaves_nothing_half_saved(tmp_path):
    store = DatasetStore(tmp_path)
    before = store.save(FILES, "saved before the crash")
    writer = _writer(tmp_path, 6_000_000, 1_000)  # incompressible payloads: each save takes a while
    committed = [writer.stdout.readline().strip() for _ in range(3)]
    time.sleep(0.05)  # well inside the next save
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    reopened = DatasetStore(tmp_path)
    assert reopened.open(before).files == FILES
    for token in committed:
        assert len(reopened.open(token).files["courses.csv"]) == 6_000_008
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = connection.execute("SELECT files, files_sha256, size_bytes FROM saved_datasets").fetchall()
    # Every row is whole: a save either committed entirely or left nothing.
    assert all(hashlib.sha256(blob).hexdigest() == digest and len(blob) == size for blob, digest, size in rows)
    assert len(rows) in (1 + len(committed), 2 + len(committed))


def test_cohort_round_trips_through_the_store(store, demo_result):
    cohort = demo_result.cohort
    token = store.save(cohort_files(cohort), "demo copy")
    reloaded = load_tables(store.open(token).files, source="demo copy").cohort
    assert reloaded.row_counts() == cohort.row_counts()
    assert reloaded.courses["cumulative_dose_source"].value_counts().to_dict() == \
        cohort.courses["cumulative_dose_source"].value_counts().to_dict()
    assert reloaded.courses["daily_dose_band"].value_counts().to_dict() == cohort.courses["daily_dose_band"].value_counts().to_dict()


def test_hand_made_cohort_round_trips(tiny_cohort):
    reloaded = load_tables(cohort_files(tiny_cohort), source="tiny").cohort
    assert reloaded.row_counts() == tiny_cohort.row_counts()
    columns = ["patient_id", "baseline_iga", "cumulative_dose_mg", "cumulative_dose_source", "arm"]
    assert reloaded.courses[columns].astype(str).equals(tiny_cohort.courses[columns].astype(str))


def test_only_kept_columns_are_saved_never_identifiers(store):
    upload = (b"patient_id,sex,age,email,patient_name,favourite_colour,,\n"
              b"P1,F,20,ann@example.org,Ann Smith,blue,,\nP2,M,30,bob@example.org,Bob Jones,red,,\n")
    result = load_tables({"courses.csv": upload}, "x")
    token = store.save(cohort_files(result.cohort), "x")
    saved = store.open(token).files
    assert set(saved) == {"courses.csv"}  # empty tables are not stored
    text = saved["courses.csv"].decode()
    header = text.splitlines()[0].split(",")
    assert all(header) and "favourite_colour" in header  # a custom column the loader kept
    assert "email" not in header and "patient_name" not in header
    assert "example.org" not in text and "Smith" not in text
