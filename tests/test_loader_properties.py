"""Whatever bytes arrive, loading returns a result and accounts for every row it read."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.loading import LoadResult, load_tables
from csv_bundles import assert_counts_add_up, bundle

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = bundle()
CELL_TEXT = st.sampled_from(["", " ", "NA", "-1", "1e400", "3.5", "abc", '"', '""', "\n", ",", "x\ny", "\x00",
                             "é", "2021-02-30", "99999999999999999999999", "yes", "F"])


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
        change = draw(st.sampled_from(["drop line", "repeat line", "drop cell", "repeat cell", "garble cell", "swap lines"]))
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
    files = {name: data.draw(mutated_csv(content), label=name) if data.draw(st.booleans(), label=f"mutate {name}")
             else content for name, content in VALID.items()}
    assert_sound(load_tables(files, source="mutated"))


@PROPERTY_SETTINGS
@given(tail=st.binary(max_size=200))
def test_valid_files_followed_by_random_bytes_never_raise(tail):
    assert_sound(load_tables(VALID | {"visits.csv": VALID["visits.csv"] + tail}, source="tail"))
