"""The demo cohort written to Parquet in chunks: unique identifiers across chunks, row counts that
add up, and a bundle that loads as the same cohort columns and types as the CSV one."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from analysis.cohort.loading import load_bundle
from analysis.demo import generate_cohort, write_demo, write_demo_parquet
from analysis.schema import TABLES

COURSES, CHUNK, SEED = 300, 120, 11  # three chunks: 120, 120 and 60 courses


@pytest.fixture(scope="module")
def parquet_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parquet")
    write_demo_parquet(folder, COURSES, seed=SEED, chunk_courses=CHUNK)
    return folder


@pytest.fixture(scope="module")
def chunks():
    """The three chunks as the writer draws them: each a cohort of its own, patients numbered on."""
    tables, first_patient = [], 0
    for seed, size in zip(np.random.SeedSequence(SEED).spawn(3), (120, 120, 60), strict=True):
        tables.append(generate_cohort(size, seed, first_patient))
        first_patient += int((tables[-1]["courses"]["course_number"] == 1).sum())
    return tables


def read(bundle, name):
    return pq.read_table(bundle / f"{name}.parquet").to_pandas()


def test_one_row_group_per_chunk_and_row_counts_add_up(parquet_bundle, chunks):
    for name in TABLES:
        metadata = pq.ParquetFile(parquet_bundle / f"{name}.parquet").metadata
        assert metadata.num_row_groups == 3
        assert [metadata.row_group(i).num_rows for i in range(3)] == [len(chunk[name]) for chunk in chunks]
    assert len(read(parquet_bundle, "courses")) == COURSES


def test_patients_are_unique_across_chunks(parquet_bundle, chunks):
    courses = read(parquet_bundle, "courses")
    assert not courses.duplicated(["patient_id", "course_number"]).any()
    assert courses["patient_id"].nunique() == (courses["course_number"] == 1).sum()
    patients = [set(chunk["courses"]["patient_id"]) for chunk in chunks]
    assert not patients[0] & patients[1] and not patients[1] & patients[2] and not patients[0] & patients[2]
    assert set(courses["patient_id"]) == patients[0] | patients[1] | patients[2]
    for name in ("visits", "adverse_events", "labs"):
        assert set(read(parquet_bundle, name)["patient_id"]) <= set(courses["patient_id"])


def test_chunks_draw_different_courses(chunks):
    first, second = (chunk["courses"]["age"].to_numpy(dtype=float)[:60] for chunk in chunks[:2])
    assert not np.array_equal(first, second)


def test_loads_as_the_csv_bundle_does(parquet_bundle, tmp_path):
    write_demo(tmp_path / "csv", COURSES, seed=SEED)
    from_csv = load_bundle(tmp_path / "csv")
    from_parquet = load_bundle(parquet_bundle)
    assert from_parquet.cohort is not None and from_parquet.report.error_count == 0
    assert from_parquet.cohort.n_courses == COURSES == from_csv.cohort.n_courses
    for name in TABLES:
        parquet_table, csv_table = from_parquet.cohort.table(name), from_csv.cohort.table(name)
        assert list(parquet_table.columns) == list(csv_table.columns), name
        assert parquet_table.dtypes.astype(str).to_dict() == csv_table.dtypes.astype(str).to_dict(), name
        assert from_parquet.report.rows_kept[f"{name}.parquet"] == len(read(parquet_bundle, name))
