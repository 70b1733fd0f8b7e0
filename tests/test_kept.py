"""Results a page keeps with its cohort (`ui.kept`) and the sections it drew (`ui.sections.drawn`):
reused for the same cohort and key, bounded, never shared between two cohorts (two sessions' uploads)."""

from dataclasses import replace

from analysis.areas.base import Audience, Drawing, Section
from tests.apptest import open_page
from ui.kept import kept
from ui.sections import audience_key, drawn


def test_a_result_is_computed_once_per_cohort_and_key(tiny_cohort):
    calls = []

    def compute():
        calls.append(1)
        return object()

    first = kept(tiny_cohort, "test.once", ("a",), compute)
    assert kept(tiny_cohort, "test.once", ("a",), compute) is first
    assert kept(tiny_cohort, "test.once", ("b",), compute) is not first
    assert len(calls) == 2


def test_only_the_last_keys_are_kept(tiny_cohort):
    for number in range(5):
        kept(tiny_cohort, "test.bounded", number, lambda number=number: number, keep=3)
    calls = []
    kept(tiny_cohort, "test.bounded", 0, lambda: calls.append(0), keep=3)
    kept(tiny_cohort, "test.bounded", 4, lambda: calls.append(4), keep=3)
    assert calls == [0]  # 0 had gone, 4 was still kept


def test_another_cohort_with_the_same_rows_shares_nothing(tiny_cohort):
    """Two sessions uploading the same bytes hold two cohort objects: nothing kept passes between them."""
    other = replace(tiny_cohort)
    mine = kept(tiny_cohort, "test.private", "key", object)
    assert kept(other, "test.private", "key", object) is not mine


def _section(calls: list) -> Section:
    def draw(cohort, result, audience):
        calls.append(audience.suppress_below)
        return Drawing(notes=(f"drawn for {audience.suppress_below}",))

    return Section(key="test_section", title="Test", draw=draw)


def test_a_section_is_drawn_once_per_result_and_audience(tiny_cohort):
    calls = []
    section = _section(calls)
    result = Drawing()  # any object that takes weak references
    plain = drawn(section, tiny_cohort, result, Audience())
    assert drawn(section, tiny_cohort, result, Audience()) is plain
    suppressed = drawn(section, tiny_cohort, result, Audience(suppress_below=5))
    assert suppressed is not plain and suppressed.notes == ("drawn for 5",)
    drawn(section, tiny_cohort, Drawing(), Audience())  # another result: drawn again
    assert calls == [None, 5, None]


def test_an_audience_with_a_choice_is_a_key():
    assert audience_key(Audience(chosen={"group": ["sex", "age_band"]})) is not None
    assert audience_key(Audience(chosen={"group": ["sex"]})) != audience_key(Audience(chosen={"group": ["age_band"]}))


def test_the_next_visitor_of_the_demo_gets_the_same_claims_without_computing_them():
    from analysis.cohort.model import memo_items
    from ui.data_source import demo_result

    def scorecards() -> list:
        store = dict(memo_items(demo_result().cohort)).get(("ui.kept", "claims.scorecard"), {})
        return list(store.values())

    first = open_page("views/overview.py")
    kept_first = scorecards()
    second = open_page("views/overview.py")
    assert not first.exception and not second.exception
    assert kept_first and [id(r) for r in scorecards()] == [id(r) for r in kept_first]  # nothing computed again
    assert [m.value for m in first.markdown] == [m.value for m in second.markdown]
