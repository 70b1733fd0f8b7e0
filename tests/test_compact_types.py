"""The cohort holds repeated text as categoricals of the values present: after a load, after the
Parquet cache, and without empty groups once a filter has left some values out."""

import json

import pandas as pd
import pytest
from csv_bundles import csv

from analysis.areas.base import SummaryOptions
from analysis.cli import json_ready
from analysis.cohort.cache import read_entry, write_entry
from analysis.cohort.filters import FilterSpec, apply_filters, filter_options
from analysis.cohort.loading import load_tables
from analysis.cohort.model import COMPACT_TEXT
from analysis.outputs.summary import summarize

COURSES = (
    "patient_id,course_number,sex,age,weight_kg,baseline_iga,end_day,site,end_reason,acne_type",
    "P1,1,F,16,50,4,150,North,completed,nodular",
    "P2,1,M,24,80,3,100,South,adverse_event,inflammatory",
    "P3,1,F,30,60,3,120,North,,nodular",
    "P4,1,M,22,70,3,140,Island,completed,",
    "P5,1,X,25,65,3,120,Nowhere,completed,comedonal",  # excluded (invalid sex): its site must leave no trace
)
VISITS = (
    "patient_id,course_number,day,visit,iga,inflammatory_lesions",
    "P1,1,0,Baseline,4,30",
    "P1,1,30,Week 4,3,20",
    "P2,1,0,Baseline,3,10",
    "P2,1,60,Week 8 (men only),2,5",
    "P3,1,0,,3,12",
    "P4,1,0,Baseline,3,8",
)
EVENTS = (
    "patient_id,course_number,term,onset_day,resolved_day,serious,action",
    "P1,1,dry lips,10,40,no,none",
    "P2,1,hiccups,5,,yes,discontinued",
    "P3,1,dry lips,12,,,",
    "P4,1,yawning,20,30,no,dose_reduced",
)
LABS = (
    "patient_id,course_number,day,visit,test,value,unit",
    "P1,1,0,Baseline,ALT,30,U/L",
    "P2,1,0,Screening,TG,150,mg/dL",
    "P3,1,0,,ALT,25,U/L",
)


def files(custom_column: bool) -> dict[str, bytes]:
    """The bundle; with a custom column the courses are read as text (not dictionary-encoded)."""
    courses = (
        COURSES if not custom_column else tuple(f"{line},{'arm' if i == 0 else 'x'}" for i, line in enumerate(COURSES))
    )
    return {
        "courses.csv": csv(*courses),
        "visits.csv": csv(*VISITS),
        "adverse_events.csv": csv(*EVENTS),
        "labs.csv": csv(*LABS),
    }


@pytest.fixture(params=[False, True], ids=["canonical", "with custom column"])
def loaded(request):
    result = load_tables(files(request.param), source="test")
    assert result.ok
    return result


def assert_compact(cohort) -> None:
    for name, columns in COMPACT_TEXT.items():
        table = cohort.table(name)
        for column in columns:
            if column not in table:
                continue
            values = table[column]
            assert isinstance(values.dtype, pd.CategoricalDtype), (name, column, values.dtype)
            present = sorted(values.dropna().unique())
            assert values.cat.categories.tolist() == present, (name, column)  # no unused category, sorted as text


def test_repeated_text_is_categorical_after_a_load(loaded):
    cohort = loaded.cohort
    assert_compact(cohort)
    assert cohort.courses["site"].cat.categories.tolist() == ["Island", "North", "South"]  # not the excluded row's
    assert cohort.courses["daily_dose_band"].dtype == "category"
    assert cohort.visits["visit"].isna().sum() == 1 and cohort.adverse_events["serious"].isna().sum() == 1
    assert (cohort.adverse_events["action"] == "discontinued").sum() == 1
    assert cohort.adverse_events["term"].str.upper().tolist() == ["DRY LIPS", "HICCUPS", "DRY LIPS", "YAWNING"]


def test_compact_types_survive_the_parquet_cache(loaded, tmp_path):
    write_entry(tmp_path / "entry", loaded)
    again = read_entry(tmp_path / "entry", "test").cohort
    assert_compact(again)
    for name in COMPACT_TEXT:
        pd.testing.assert_frame_equal(again.table(name), loaded.cohort.table(name), check_index_type=False)


def test_a_filter_leaves_no_empty_group_of_the_values_it_left_out(loaded):
    women = apply_filters(loaded.cohort, FilterSpec({"sex": ("F",)}))
    assert women.courses["site"].value_counts().to_dict() == {"North": 2}
    assert women.visits.groupby("visit", observed=False).size().to_dict() == {"Baseline": 1, "Week 4": 1}
    assert_compact(women)
    assert filter_options(women)["site"] == ["North"]
    summary = json.dumps(json_ready(summarize(women, SummaryOptions(group_by="site"))))
    for absent in ("South", "Island", "Nowhere", "hiccups", "yawning", "Week 8 (men only)", "Screening"):
        assert absent not in summary, absent
    assert "dry lips" in summary.lower()
