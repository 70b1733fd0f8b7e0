"""Whatever bytes arrive, loading returns a result and accounts for every row it read."""

from csv_bundles import assert_counts_add_up, bundle
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.cohort.loading import LoadResult, load_tables

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = bundle()
CELL_TEXT = st.sampled_from(
    [
        "",
        " ",
        "NA",
        "-1",
        "1e400",
        "3.5",
        "abc",
        '"',
        '""',
        "\n",
        ",",
        "x\ny",
        "\x00",
        "é",
        "2021-02-30",
        "99999999999999999999999",
        "yes",
        "F",
    ]
)


def assert_sound(result) -> None:
    assert isinstance(result, LoadResult)
    report = result.report
    assert not report.issues["message"].str.contains("internal error").any(), report.finding_lines(5)
    assert_counts_add_up(report)
    if result.cohort is not None:
        for name in ("courses", "visits", "adverse_events", "labs"):
            file = f"{name}.csv"
            assert len(result.cohort.table(name)) == report.rows_kept.get(file, 0), name


@PROPERTY_SETTINGS
@given(courses=st.binary(max_size=300), visits=st.binary(max_size=300))
def test_random_bytes_never_raise(courses, visits):
    assert_sound(load_tables({"courses.csv": courses, "visits.csv": visits}, source="random"))


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=300))
def test_a_random_zip_never_raises(data):
    assert_sound(load_tables({"bundle.zip": data}, source="random"))


@st.composite
def mutated_csv(draw, original: bytes) -> bytes:
    """A valid file with lines dropped or repeated and cells dropped, repeated or garbled."""
    lines = original.decode().split("\n")
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        cells = lines[index].split(",")
        cell = draw(st.integers(0, len(cells) - 1))
        change = draw(
            st.sampled_from(["drop line", "repeat line", "drop cell", "repeat cell", "garble cell", "swap lines"])
        )
        if change == "drop line" and len(lines) > 1:
            del lines[index]
        elif change == "repeat line":
            lines.insert(index, lines[index])
        elif change == "swap lines":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            if change == "drop cell":
                del cells[cell]
            elif change == "repeat cell":
                cells.insert(cell, cells[cell])
            else:
                cells[cell] = draw(st.one_of(CELL_TEXT, st.text(max_size=8)))
            lines[index] = ",".join(cells)
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


@PROPERTY_SETTINGS
@given(st.data())
def test_mutated_valid_files_never_raise_and_every_row_is_counted(data):
    files = {
        name: data.draw(mutated_csv(content), label=name)
        if data.draw(st.booleans(), label=f"mutate {name}")
        else content
        for name, content in VALID.items()
    }
    assert_sound(load_tables(files, source="mutated"))


@PROPERTY_SETTINGS
@given(tail=st.binary(max_size=200))
def test_valid_files_followed_by_random_bytes_never_raise(tail):
    assert_sound(load_tables(VALID | {"visits.csv": VALID["visits.csv"] + tail}, source="tail"))


# ---------------------------------------------------------------------------------------------
# Other formats, non-canonical exports and mapping files


def assert_sound_upload(result) -> None:
    """As assert_sound, for uploads whose files are not named after the tables."""
    assert isinstance(result, LoadResult)
    report = result.report
    assert not report.issues["message"].str.contains("internal error").any(), report.finding_lines(5)
    assert_counts_add_up(report)
    if result.cohort is not None:
        kept = sum(report.rows_kept.values())
        assert kept == sum(result.cohort.row_counts().values())


FILE_NAMES = st.sampled_from(
    [
        "export.csv",
        "data.tsv",
        "clinic.xlsx",
        "visits.parquet",
        "bundle.zip",
        "labs.csv.gz",
        "notes.txt",
        "adsl.csv",
        "record.xls",
        "courses.csv",
    ]
)


@PROPERTY_SETTINGS
@given(name=FILE_NAMES, data=st.binary(max_size=400))
def test_random_bytes_under_any_name_never_raise(name, data):
    assert_sound_upload(load_tables({name: data, "courses.csv": VALID["courses.csv"]}, source="random"))


@st.composite
def flipped(draw, original: bytes) -> bytes:
    """A valid file of another format with a few bytes changed or cut."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


def _workbook() -> bytes:
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"Patient ID": ["A", "B"], "Gender": ["f", "m"], "Age": [17, 30]}).to_excel(buffer, index=False)
    return buffer.getvalue()


def _parquet() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"patient_id": ["A"], "sex": ["F"], "age": [20]}), buffer)
    return buffer.getvalue()


WORKBOOK, PARQUET = _workbook(), _parquet()


@PROPERTY_SETTINGS
@given(st.data())
def test_damaged_workbooks_and_parquet_files_never_raise(data):
    name, original = data.draw(st.sampled_from([("clinic.xlsx", WORKBOOK), ("courses.parquet", PARQUET)]))
    assert_sound_upload(load_tables({name: data.draw(flipped(original))}, source="flipped"))


HEADERS = st.sampled_from(
    [
        "Patient ID",
        "pid",
        "subject",
        "USUBJID",
        "Gender",
        "sex",
        "Age (years)",
        "age",
        "weight",
        "visit date",
        "IGA",
        "lesions",
        "term",
        "onset date",
        "test",
        "result",
        "unit",
        "start date",
        "iga_m0",
        "iga_m3",
        "dob",
        "email",
        "",
        "x",
        "Name",
    ]
)
CELLS = st.one_of(
    CELL_TEXT,
    st.sampled_from(
        [
            "female",
            "M",
            "1",
            "2",
            "severe",
            "clear",
            "03/02/2021",
            "2021-13-45",
            "60,5 kg",
            "ALT",
            "dry lips",
            "a@b.org",
            "Jane Smith",
            "=SUM(A1)",
        ]
    ),
)


@st.composite
def export(draw) -> bytes:
    """A small export with names researchers use, in any delimiter, filled with awkward cells."""
    columns = draw(st.lists(HEADERS, min_size=1, max_size=7))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)), max_size=6))
    text = "\n".join(delimiter.join(row) for row in [columns, *rows])
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])), errors="replace")


@PROPERTY_SETTINGS
@given(first=export(), second=export())
def test_random_exports_are_mapped_or_reported_never_raised(first, second):
    assert_sound_upload(load_tables({"export.csv": first, "visits export.csv": second}, source="export"))


MAPPING_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.sampled_from(["courses", "visits", "labs", "date", "age", "Patient ID", "Gender", "export.csv", "", "x"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "file",
                    "table",
                    "columns",
                    "source",
                    "transform",
                    "values",
                    "when",
                    "filters",
                    "column",
                    "keep",
                    "wide",
                    "target",
                    "day",
                    "constant",
                    "date_format",
                    "sex",
                    "age",
                    "patient_id",
                    "first_per_record",
                    "drop_pattern",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@PROPERTY_SETTINGS
@given(files=st.lists(MAPPING_VALUES, max_size=3))
def test_random_mapping_files_are_refused_or_applied_never_raised(files):
    import json

    from analysis.ingest.mapping import Mapping, MappingError

    text = json.dumps({"files": files})
    try:
        mapping = Mapping.from_json(text)
    except MappingError:
        return
    upload = {"export.csv": b"Patient ID;Gender;Age\nA;f;20\nB;m;x\n"}
    assert_sound_upload(load_tables(upload, source="mapped", mapping=mapping))


@st.composite
def mapping_entry(draw) -> dict:
    """A mapping entry for the export, plausible in shape, random in content."""
    sources = st.sampled_from(["Patient ID", "Gender", "Age", "missing", ""])
    targets = st.sampled_from(
        ["patient_id", "sex", "age", "course_number", "day", "start_date", "end_day", "arm", "iga"]
    )
    rule = st.fixed_dictionaries(
        {},
        optional={
            "source": sources,
            "transform": st.sampled_from(["", "date", "study_day", "duration", "unit_in_parentheses"]),
            "values": st.dictionaries(
                st.sampled_from(["f", "m", "A", "20", "x"]), st.sampled_from(["F", "M", "other", "", "7"]), max_size=3
            ),
            "when": st.dictionaries(sources, st.lists(st.sampled_from(["f", "A", ""]), max_size=2), max_size=1),
            "constant": st.sampled_from(["1", "F", "x", "2021-01-01"]),
            "date_format": st.sampled_from(["%d/%m/%Y", "%Y", "nonsense"]),
        },
    )
    row_filter = st.fixed_dictionaries(
        {"column": sources},
        optional={
            "keep": st.lists(st.sampled_from(["f", "A", ""]), max_size=2),
            "drop": st.lists(st.sampled_from(["m", "B"]), max_size=2),
            "drop_pattern": st.sampled_from(["^A", "[", "x+"]),
            "first_per_record": st.booleans(),
            "reason": st.sampled_from(["", "why"]),
        },
    )
    wide = st.fixed_dictionaries(
        {
            "source": sources,
            "target": st.sampled_from(["iga", "total_lesions", "day", "nonsense"]),
            "day": st.integers(-400, 400),
        }
    )
    return draw(
        st.fixed_dictionaries(
            {
                "file": st.sampled_from(["export.csv", "other.csv"]),
                "table": st.sampled_from(["courses", "visits", "adverse_events", "labs", "course_events", ""]),
            },
            optional={
                "columns": st.dictionaries(targets, rule, max_size=5),
                "filters": st.lists(row_filter, max_size=2),
                "wide": st.lists(wide, max_size=3),
                "keep_other_columns": st.booleans(),
                "ignore": st.lists(sources, max_size=2),
            },
        )
    )


@PROPERTY_SETTINGS
@given(entries=st.lists(mapping_entry(), min_size=1, max_size=3))
@example(
    entries=[
        {"file": "export.csv", "table": "courses"},  # an events sheet whose only column does not exist
        {"file": "export.csv", "table": "course_events", "wide": [{"source": "missing", "target": "iga", "day": 0}]},
    ]
)
def test_plausible_but_wrong_mappings_are_applied_or_reported_never_raised(entries):
    import json

    from analysis.ingest.mapping import Mapping, MappingError

    try:
        mapping = Mapping.from_json(json.dumps({"files": entries}))
    except MappingError:
        return
    upload = {"export.csv": b"Patient ID;Gender;Age\nA;f;20\nB;m;x\nA;f;20\n"}
    assert_sound_upload(load_tables(upload, source="mapped", mapping=mapping))
