"""The claim set in use in this browser session: the bundled article's, or one the user imported or built.

Sets live in the session (a dataset saved and shared keeps the set in use, and its link opens it
again); the scorecard, the report download and the pages' article lines all read the set from here.
A user claim is written as a `[[claim]]` table and read back through the same checks as a file, so
what the app accepts is exactly what a claim file may hold.
"""

from __future__ import annotations

import re
from dataclasses import replace

import streamlit as st

from analysis.areas.claims import compute as claims
from analysis.areas.claims.specs import DIRECTIONS, toml_value
from analysis.areas.clearance import compute as clearance
from analysis.areas.labs.compute import GRADED_TESTS
from analysis.areas.side_effects.compute import preferred_terms, term_dictionary

from .page import opened

CLAIM_SET_STATE = "claim_set"
LIBRARY_STATE = "claim_set_library"  # title -> ClaimSet: the sets imported or built in this session
IMPORTED_STATE = "claim_set_imported"  # the upload already read, so a rerun does not read it again
BUNDLED_LABEL = "The bundled article's claims"
NEW_SET = "a new claim set"
DIRECTION_WORDS = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most", "described": "no figure"}


def active_claim_set() -> claims.ClaimSet:
    chosen = st.session_state.get(CLAIM_SET_STATE)
    return chosen if isinstance(chosen, claims.ClaimSet) else claims.bundled_claim_set()


def using_bundled_set() -> bool:
    return active_claim_set() == claims.bundled_claim_set()


def library() -> dict[str, claims.ClaimSet]:
    return st.session_state.setdefault(LIBRARY_STATE, {})


def choose_claim_set(claim_set: claims.ClaimSet | None) -> None:
    """Makes the set active and keeps it in the session's list (None: back to the bundled article)."""
    if claim_set is None or claim_set == claims.bundled_claim_set():
        st.session_state.pop(CLAIM_SET_STATE, None)
        return
    library()[claim_set.title] = claim_set
    st.session_state[CLAIM_SET_STATE] = claim_set


def with_claim_set(settings: dict) -> dict:
    """The settings the analysis reads, with the active set when it is not the bundled one."""
    if using_bundled_set():
        return dict(settings)
    return {**settings, claims.CLAIM_SET_KEY: active_claim_set()}


def read_into_session(data: bytes | str, name: str) -> str | None:
    """Reads a claim file and makes it active; the message of a file that cannot be used, else None."""
    try:
        choose_claim_set(claims.load_claim_set(data, name))
    except claims.ClaimSetError as refused:
        return str(refused)
    return None


# ---------------------------------------------------------------------------------------------
# The Overview's panel: choose, import, export, add a claim


def claim_set_panel() -> None:
    """Drawn only while open (`ui.page.opened`): nothing in it is needed to judge the claims."""
    box = opened("Claims tested: choose, import, export, or add a claim from any source", "claims_panel")
    if box is None:
        return
    with box:
        st.caption(
            "A claim set is a TOML file in the schema of data/claims.toml. Each claim is a verbatim quote, read as a "
            "quantity the outcome pages measure, with a direction and a threshold; it is judged exactly like the "
            "article's claims. Saving and sharing a dataset keeps the set in use, and its link opens it."
        )
        choose_section()
        import_export_section()
        st.markdown("**Add a claim**")
        add_claim_form()


def choose_section() -> None:
    if not using_bundled_set():
        library().setdefault(active_claim_set().title, active_claim_set())
    options = [BUNDLED_LABEL, *library()]
    current = BUNDLED_LABEL if using_bundled_set() else active_claim_set().title
    choice = st.selectbox("Claim set in use", options, index=options.index(current), key=f"claims_set_{len(options)}")
    if choice != current:
        choose_claim_set(None if choice == BUNDLED_LABEL else library()[choice])
        st.rerun()


def import_export_section() -> None:
    left, right = st.columns(2)
    upload = left.file_uploader("Import a claim set (TOML)", type=["toml"], key="claims_import")
    if upload is not None and st.session_state.get(IMPORTED_STATE) != upload.file_id:
        st.session_state[IMPORTED_STATE] = upload.file_id
        problem = read_into_session(upload.getvalue(), upload.name)
        if problem:
            left.error(problem)
        else:
            st.rerun()
    active = active_claim_set()
    right.download_button(
        "Export the claim set in use (TOML)",
        data=active.to_toml(),
        file_name=f"{slug(active.title)}.toml",
        mime="application/toml",
        key="claims_export",
        icon=":material/download:",
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "claims"


def add_claim_form() -> None:
    catalogue = claims.CATALOGUE
    measure = st.selectbox(
        "What the claim is about (quantity)",
        list(catalogue),
        format_func=lambda key: catalogue[key].label,
        key="claims_add_measure",
    )
    entry = catalogue[measure]
    with st.form("claims_add_form", clear_on_submit=False):
        quote = st.text_area("The claim, word for word", key="claims_add_quote")
        top = st.columns(2)
        source = top[0].text_input("Source (title)", key="claims_add_source")
        link = top[1].text_input("Link (as text)", key="claims_add_link")
        reads_as = st.text_input(
            "Read as (how you read the words)", placeholder="e.g. most courses end clear", key="claims_add_reads_as"
        )
        params = {param.name: param_widget(param) for param in entry.params}
        defaults = definition_widgets() if entry.area == "clearance" else {}
        bottom = st.columns(3)
        direction = bottom[0].selectbox(
            "Direction", list(DIRECTIONS), format_func=DIRECTION_WORDS.get, key="claims_add_direction"
        )
        threshold = bottom[1].number_input(
            "Threshold (%)", 0.0, 100.0, 50.0, step=1.0, format="%g", key="claims_add_threshold"
        )
        target = bottom[2].radio("Add to", [NEW_SET, "the claim set in use"], key="claims_add_target")
        if not st.form_submit_button("Add the claim", icon=":material/add:"):
            return
    claim = {
        "quote": quote.strip(),
        "source": source.strip(),
        "link": link.strip(),
        "reads_as": reads_as.strip(),
        "measure": measure,
        "params": params,
        "defaults": defaults,
        "direction": direction,
        "threshold": None if direction == "described" else threshold / 100,
    }
    problem = add_claim(claim, new_set=target == NEW_SET)
    if problem:
        st.error(problem)
    else:
        st.rerun()


def param_widget(param: claims.Param):
    key = f"claims_add_param_{param.name}"
    if param.kind in ("int", "float"):
        step = 1.0 if param.kind == "float" else 1
        value = float(param.default) if param.kind == "float" else int(param.default)
        low = None if param.low is None else type(value)(param.low)
        high = None if param.high is None else type(value)(param.high)
        return st.number_input(param.label, low, high, value, step=step, key=key)
    if param.kind == "choice":
        return st.selectbox(param.label, list(param.choices), key=key)
    if param.kind == "terms":
        options = (
            list(preferred_terms()) if param.name == "terms" else list(GRADED_TESTS) + ["BILI", "GLU", "LDL", "HDL"]
        )
        default = [term for term in param.default if term in options]
        return tuple(st.multiselect(param.label, options, default=default, key=key))
    if param.name == "body_system":
        systems = sorted(term_dictionary()["body_system"].dropna().unique())
        return st.selectbox(param.label, ["", *systems], format_func=lambda s: s or "(use the terms)", key=key)
    if param.name == "test":
        return st.selectbox(param.label, list(GRADED_TESTS), key=key)
    return st.text_input(param.label, value=str(param.default), key=key)


def definition_widgets() -> dict:
    columns = st.columns(2)
    definition = columns[0].selectbox(
        "What counts as clear",
        list(clearance.DEFINITIONS),
        format_func=clearance.DEFINITIONS.get,
        key="claims_add_definition",
    )
    percent = columns[1].number_input(
        "Lesion reduction counted as clear (%)", 10, 100, 80, step=5, key="claims_add_reduction"
    )
    defaults = {"clearance.definition": definition}
    if definition == "lesion_reduction":
        defaults["clearance.reduction_percent"] = int(percent)
    return defaults


def add_claim(claim: dict, new_set: bool) -> str | None:
    """Adds a user claim (checked exactly as a claim file is) to a new set or the one in use; the
    message naming what is wrong, else None."""
    if not claim["quote"]:
        return "Write the claim's words first: the quote is what the verdict is about."
    base = None if new_set else active_claim_set()
    if base == claims.bundled_claim_set():
        base = replace(base, title=unique_title(f"{base.title}, with your claims"))
    taken = set() if base is None else set(base.reading_specs())
    claim_id = next(f"U{number:02d}" for number in range(1, 1000) if f"U{number:02d}" not in taken)
    label = claim["reads_as"] or claims.CATALOGUE[claim["measure"]].label
    fields = {"id": claim_id, "label": label[:60], **{k: v for k, v in claim.items() if v not in ("", None, {})}}
    title = unique_title(f"Your claims ({claim['source']})" if claim["source"] else "Your claims")
    header = f"title = {toml_value(title)}\n" if base is None else ""
    text = (header if base is None else base.to_toml()) + "\n[[claim]]\n" + table_lines(fields)
    name = title if base is None else base.title
    problem = read_into_session(text, name)
    return problem


def unique_title(title: str) -> str:
    """A title no set of this session has yet ('Your claims', 'Your claims 2', ...)."""
    taken = set(library()) | {claims.bundled_claim_set().title}
    return next(t for t in (title, *(f"{title} {n}" for n in range(2, 1000))) if t not in taken)


def table_lines(fields: dict) -> str:
    return "".join(
        f"{key} = {toml_value(dict(value) if isinstance(value, dict) else value)}\n" for key, value in fields.items()
    )
