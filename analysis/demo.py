"""The seeded synthetic demo cohort: isotretinoin courses that never happened.

Every row is invented by a random-number generator; no patient, clinic or record lies behind it.
Identifiers are sequential pseudonyms ("P000123"), ages are years with one decimal, and the only
calendar field is each course's start date. The cohort fills the four canonical tables of
`analysis.schema` and follows the published figures in `LITERATURE.md`, one `PARAMETERS` entry
per figure, each naming its source row:

- patients take one course, about a fifth a second one after a relapse (or, less often, after a
  poor response), no sooner than 8 weeks after the first ended;
- dosing starts at 0.5 mg/kg/day for about four weeks and then follows real-world daily doses,
  in 10 mg capsule steps, so every daily and cumulative dose band of Lai & Barbieri is filled;
- lesions fall by about 93% (median) by the end of a course, a third of courses flare first,
  and 87% of completed first courses end at IGA 0/1;
- relapse after the course follows a proportional-hazards model (HR 0.996 per mg/kg of
  cumulative dose, 1.43 for women) with a median time to relapse of 7.5 months;
- adverse events are written as clinics write them (synonyms, misspellings, a few terms no
  dictionary knows), with cheilitis rising with the daily dose;
- lipids and liver tests rise above the upper limit on treatment in 44% (triglycerides), 31%
  (total cholesterol) and 11% (ALT or AST) of courses with a normal baseline; one site reports in
  SI units, another leaves total lesion counts to be derived.

Named modelling assumptions, where the literature gives no figure: the monthly shape of lesion
decline (log-linear in the cumulative dose taken so far, after the first 5 mg/kg), the shape of
the initial flare (a bump peaking around day 28), demographics, sites, visit and laboratory
schedules and how often they are missed, follow-up length, the data cut-off, and the frequency of
events the literature does not quantify. Each is marked "modelling assumption" in `PARAMETERS`.

Four quantities are matched on each generated cohort by solving for one scale factor, so they
hold whatever the other parameters: the median end-of-course lesion change, the 1-year relapse
probability, the share of patients with a second course and the end-of-course IGA 0/1 share.

Generation is vectorised over courses (no per-course Python loop): a million courses (about
7.5 million visits and 22 million laboratory results) take about 20 s of CPU and 4 GB of memory.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from analysis.schema import DAYS_PER_MONTH, SEX_VALUES, SPECS, TABLES

DEFAULT_SEED = 20261125
DEFAULT_COURSES = 2000

PARAMETERS = MappingProxyType(
    {
        # ---- Patients, sites and calendar ----
        "sex_share": {"F": 0.55, "M": 0.43, "other": 0.01, "unknown": 0.01},  # modelling assumption
        "adult_share": 0.12,  # modelling assumption: share starting aged 25-50; the rest mostly 14-30
        "site_share": {"North": 0.40, "Central": 0.35, "South": 0.25},  # modelling assumption
        # The site reporting lipids in mmol/L, ALT/AST in ukat/L and bilirubin in umol/L; factors from
        # Conventions, "unit conversions" row.
        "si_unit_site": "South",
        "derived_total_site": "Central",  # modelling assumption: this site leaves total_lesions empty
        "first_start_dates": ("2018-01-01", "2024-12-31"),  # modelling assumption
        "data_cutoff": "2026-06-30",  # modelling assumption: nothing is observed after this date
        "baseline_iga_share": {2: 0.10, 3: 0.50, 4: 0.40},  # modelling assumption
        "second_course_baseline_iga_share": {2: 0.35, 3: 0.50, 4: 0.15},  # modelling assumption
        "prior_treatment_share": {  # modelling assumption (most come after an oral antibiotic)
            "oral_antibiotic": 0.85,
            "topical_retinoid": 0.70,
            "topical_benzoyl_peroxide": 0.45,
            "hormonal": 0.25,  # women only
        },
        "can_become_pregnant_share": 0.92,  # modelling assumption: among women aged 14-50
        # ---- Dosing ----
        # Dosing, "titration" row (AAP 2013): 0.5 mg/kg/day for 4 weeks, i.e. until the first monthly
        # visit (about day 30, later if it is missed), then the maintenance dose.
        "titration_mg_per_kg_day": 0.5,
        # Maintenance dose after titration (lognormal median, log-sd), set so that the course-average
        # daily dose is about 0.58 mg/kg and the cumulative dose about 100-125 mg/kg: Dosing,
        # "real-world dosing" row; the guideline's 1.0 mg/kg/day is the upper tail.
        "maintenance_mg_per_kg_day": (0.59, 0.34),
        "maintenance_second_course_factor": 1.15,  # "real-world dosing" row: 0.71 vs 0.58 with >=2 courses
        "capsule_mg": 10,  # modelling assumption: doses in 10 mg steps (10 and 20 mg capsules)
        # Completed course length, days (lognormal median, log-sd), longer at lower doses: Dosing, "one
        # course (US label)" row (15-20 weeks) and Efficacy, "course length needed" row (4-6 months).
        "course_days": (178.0, 0.22),
        "course_days_dose_elasticity": -0.15,  # modelling assumption
        "course_days_range": (84, 300),  # modelling assumption
        "end_reason_share": {
            "completed": 0.862,
            "adverse_event": 0.020,  # Side effects, "stopped for adverse effects" row (1.4%), rounded up
            "lost_to_follow_up": 0.075,  # modelling assumption
            "patient_choice": 0.035,  # modelling assumption
            "other": 0.008,  # modelling assumption
        },
        "pregnancy_share": 0.003,  # modelling assumption: of courses that can become pregnant
        "dose_reduction_share": 0.07,  # modelling assumption: an adverse event leads to a lower dose
        "cumulative_dose_missing_share": 0.10,  # modelling assumption: left to be integrated from visits
        # ---- Visits ----
        "screening_visit_share": 0.25,  # modelling assumption: baseline 1-14 days before the first dose
        "visit_jitter_days": 4,  # modelling assumption: monthly visits within +-4 days
        "missed_visit_share": 0.10,  # modelling assumption
        "second_follow_up_visit_share": 0.5,  # modelling assumption
        # ---- Efficacy ----
        "baseline_lesions": {  # modelling assumption: median counts by baseline IGA
            "papules_pustules": {2: 12, 3: 24, 4: 38},
            "noninflammatory": {2: 20, 3: 30, 4: 40},
            "nodules_mean": {2: 0.3, 3: 1.5, 4: 5.0},
        },
        # Median change in total lesions from baseline to the end of completed first courses: Efficacy,
        # "total lesion reduction, week 20" row (Tan 2014, -92.9%). Matched on each cohort.
        "end_of_course_lesion_change": -0.929,
        "response_log_sd": 0.45,  # modelling assumption: course-to-course spread of the response
        # Monthly shape: log lesion count falls linearly in the cumulative dose taken so far, after the
        # first 5 mg/kg (modelling assumption; no monthly source exists, see Efficacy).
        "response_lag_mg_per_kg": 5.0,
        "nodule_response_exponent": 1.05,  # Efficacy, Tan 2014 row: nodules -95.6% vs total -92.9%
        "flare_share": 0.32,  # Efficacy, "initial flare" row (Demircay 2008): >=10% above baseline, days 1-42
        "flare_severity_share": {"mild": 0.18, "moderate": 0.10, "severe": 0.045},  # same row
        "flare_peak_day": 28,  # modelling assumption
        "end_of_course_iga01": 0.87,  # Efficacy, "IGA 0/1 at end of course" row (Patel 2021); matched
        "iga_visit_sd": 0.4,  # modelling assumption: visit-to-visit spread of the IGA judgement (grades)
        "relapse_lesion_level": (0.3, 0.7),  # modelling assumption: share of baseline lesions after relapse
        # ---- Relapse and retreatment ----
        # Kaplan-Meier relapse 1 year after the end of the course, matched on each cohort; set so that
        # about 22.5% of courses relapse within follow-up (Relapse, Lai & Barbieri 2025 row).
        "relapse_1y": 0.21,
        "relapse_median_days": 228,  # Relapse, Lai & Barbieri row: median 7.5 months after the course
        # Log-sd of time to relapse among relapsers: between Liu 2008 (80.9% within 2 years) and Layton
        # 1993 (96% within 3 years), Relapse "timing" and "10-year outcome" rows.
        "relapse_time_log_sd": 1.0,
        "relapse_hr_per_mg_per_kg": 0.996,  # Relapse, "cumulative dose effect" row (Lai & Barbieri)
        "relapse_hr_female": 1.43,  # same row
        # Share of patients with a second course, matched on each cohort: Dosing, "real-world dosing"
        # row (22.4%), Relapse rows (Layton 23%); a little lower as follow-up is censored.
        "second_course_share": 0.21,
        "retreat_min_gap_days": 56,  # Dosing, "one course (US label)" row: no sooner than 8 weeks
        "retreat_delay_days": (45, 0.6),  # modelling assumption: relapse to next course (median, log-sd)
        "retreat_without_relapse": 0.1,  # modelling assumption: poor responders retreated with no relapse
        "followup_years": (1.0, 4.0),  # modelling assumption: observation after the course, most patients
        "short_followup_share": 0.15,  # modelling assumption: observed under a year after the course
        # ---- Adverse events ----
        # Cheilitis by maintenance daily dose: Side effects, "cheilitis" row (Rademaker 2010): 47% at
        # <0.25, 96% at >0.75 mg/kg/day, linear between; about 78% overall.
        "cheilitis_by_dose": ((0.25, 0.47), (0.75, 0.96)),
        "xerosis": 0.70,  # Side effects, "xerosis" row (72% of treatment-months)
        "dry_eyes": 0.30,  # Side effects, "month 1 -> month 3" row (dry eyes 29% at month 1)
        "nasal_dryness": 0.25,  # modelling assumption (named by the source document, no figure)
        "epistaxis": 0.08,  # Side effects, EU label bands row: common (1-10%) [2H]
        "arthralgia": 0.12,  # Side effects, EU label bands row: very common [2H]
        "myalgia": 0.03,  # Side effects, "back pain / myalgia" row (Ozkoca 2023: myalgia 2.8%)
        "back_pain": 0.10,  # same row gives 25%; modelling assumption: a clinic records fewer
        "hair_loss": {"<0.5": 0.032, ">=0.5": 0.057},  # Side effects, "hair loss" row (Lytvyn 2022)
        "headache": 0.06,  # Side effects, EU label bands row: common [2H]
        "mood": 0.008,  # Side effects, "psychiatric symptoms" row (1.65% of treatment-months), plus PHQ-9
        "vision": 0.006,  # modelling assumption: about 0.5-1% (EU label says very rare [2H])
        "unrecognised_terms": 0.05,  # modelling assumption: "sunburn", "itchy scalp", "stomach upset"
        "ae_grade_share": (0.82, 0.165, 0.015),  # modelling assumption: grades 1, 2, 3
        "ae_unresolved_share": 0.12,  # Side effects, "reversibility" row: most reversible, some persist
        "ae_resolved_on_treatment_share": 0.35,  # modelling assumption
        "ae_resolution_days_after_end": (21, 0.8),  # "reversibility" row: rapidly reversible (median, log-sd)
        # ---- PHQ-9 ----
        "phq9_baseline_gamma": (1.2, 3.0),  # modelling assumption: shape, scale (mostly low scores)
        # Share of courses with baseline PHQ-9 < 10 reaching >= 10 on treatment: Side effects,
        # "psychiatric symptoms" and "depression" rows (1-2%).
        "phq9_worsening_share": 0.02,
        "phq9_missing_share": 0.15,  # modelling assumption
        # ---- Laboratory values ----
        # New value above the upper limit on treatment, courses with a normal baseline: Laboratory,
        # "new abnormality with normal baseline" row (Zane 2006). For transaminases the 11% is ALT,
        # and so also ALT or AST: AST rises only along with ALT.
        "new_abnormal_tg": 0.44,
        "new_abnormal_tc": 0.31,
        "new_abnormal_alt": 0.11,
        "ast_rises_with_alt": 0.6,  # modelling assumption: share of ALT rises with AST above its limit
        # Baseline (lognormal median, log-sd) in mg/dL or U/L: Laboratory, "mean change" row (TG 87,
        # ALT 18, AST 20) and "abnormal at baseline" row (TG 6.5%, cholesterol 10.5% above limit).
        "lab_baseline": {
            "ALT": (18, 0.45),
            "AST": (20, 0.30),
            "TG": (85, 0.37),
            "TC": (162, 0.14),
            "LDL": (95, 0.25),
            "HDL_F": (58, 0.20),
            "HDL_M": (48, 0.20),
            "CK_F": (90, 0.45),
            "CK_M": (140, 0.45),
            "BILI": (0.55, 0.35),
        },
        # On-treatment rise when no new abnormality: Laboratory, "mean change" row (TG 87 -> 105).
        "lab_rise": {"ALT": 1.10, "AST": 1.08, "TG": 1.15, "TC": 1.06, "HDL": 0.95},
        # Grade >= 3 (TG > 500 mg/dL, ALT/AST > 5 x ULN) among new abnormalities: Laboratory, "CTCAE
        # grade >= 3" row (TG < 1%, liver < 0.5% of all courses).
        "lab_severe_share": {"TG": 0.015, "ALT": 0.02, "AST": 0.01, "TC": 0.0},
        # Peak above the limit as a multiple of it (lognormal median, log-sd): modelling assumption,
        # mostly CTCAE grade 1 (Laboratory, Zane 2006 row: moderate/severe ones mostly transient).
        "lab_excess_over_limit": {"ALT": (0.3, 0.6), "AST": (0.3, 0.6), "TG": (0.3, 0.6), "TC": (0.12, 0.5)},
        "reference_limits": {  # mg/dL or U/L; modelling assumption for the exact limits
            "ALT": (7, 40),
            "AST": (10, 40),
            "TG": (None, 150),
            "TC": (None, 200),
            "LDL": (None, 130),
            "HDL": (40, None),
            "CK": (30, 200),
            "BILI": (0.1, 1.2),
            "HCG": (None, 5),
        },
        "lab_schedule_months": (1, 4, 7),  # Laboratory, "monitoring (EU)" row: baseline, month 1, 3-monthly
        "missed_lab_share": 0.10,  # modelling assumption
        "lipid_profile_share": 0.60,  # modelling assumption: draws that include LDL and HDL
        "ck_share": 0.08,  # modelling assumption
        "bilirubin_share": 0.25,  # modelling assumption: gives eDISH its data
        "gilbert_share": 0.04,  # modelling assumption: isolated raised bilirubin
        "limits_missing_share": 0.08,  # modelling assumption: default limits apply
        "hcg_compliance": 0.85,  # modelling assumption: monthly test done (Conventions, pregnancy row)
    }
)

SLOT_LABELS = ("Baseline", *(f"Month {m}" for m in range(1, 10)), "End of course", "Follow-up 1", "Follow-up 2")
BASELINE, END, FOLLOW_UP_1, FOLLOW_UP_2 = 0, 10, 11, 12
MONTH_SLOTS = np.arange(1, 10)
N_SLOTS = len(SLOT_LABELS)
SITES = tuple(PARAMETERS["site_share"])
END_REASON_CODES = (*PARAMETERS["end_reason_share"], "pregnancy")
COMPLETED, ADVERSE_EVENT, LOST, CHOICE, OTHER, PREGNANCY = range(6)
ACNE_TYPES = ("nodulocystic", "inflammatory", "mixed", "comedonal")
ACNE_TYPE_SHARE = {2: (0.0, 0.5, 0.2, 0.3), 3: (0.2, 0.55, 0.2, 0.05), 4: (0.6, 0.3, 0.1, 0.0)}
PRIOR_TREATMENTS = tuple(PARAMETERS["prior_treatment_share"])
EPOCH = np.datetime64("2018-01-01", "D")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_cohort(
    n_courses: int = DEFAULT_COURSES, seed: int | np.random.SeedSequence = DEFAULT_SEED, first_patient: int = 0
) -> dict[str, pd.DataFrame]:
    """The four canonical tables of a synthetic cohort of exactly `n_courses` courses; its patients
    are numbered from `first_patient` + 1 (a part of a larger cohort starts where the last ended)."""
    if n_courses < 1:
        raise ValueError("n_courses must be at least 1")
    rng = np.random.default_rng(seed)
    fitted: dict[str, float] = {}
    first = _keep_patients_for(_first_courses(rng, n_courses, fitted), n_courses)
    second = _second_courses(rng, first, fitted)
    courses = _patient_order(_concat(first, second))
    del first, second
    courses["patient"] += first_patient
    _hide_follow_up_after_retreatment(courses)
    tables = {"courses": _courses_table(rng, courses), "visits": _visits_table(rng, courses)}
    tables["adverse_events"] = _adverse_events_table(rng, courses)
    tables["labs"] = _labs_table(rng, courses)
    return tables


def write_demo(out_dir, n_courses: int = DEFAULT_COURSES, seed: int = DEFAULT_SEED) -> None:
    """Write the cohort as four CSV files; the same arguments always give the same bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = generate_cohort(n_courses, seed)
    for name in TABLES:
        write_table_csv(tables.pop(name), out / f"{name}.csv")


PARQUET_CHUNK_COURSES = 250_000


def write_demo_parquet(
    out_dir, n_courses: int, seed: int = DEFAULT_SEED, chunk_courses: int = PARQUET_CHUNK_COURSES, progress=None
) -> None:
    """Write a cohort of any size as four Parquet files, `chunk_courses` courses at a time.

    Each chunk is a cohort of its own from `generate_cohort` (its own seed, drawn from `seed`, and
    its patients numbered on from the last chunk's), appended to each file as row groups: memory
    stays that of one chunk (about 1 GB for 250,000 courses) whatever `n_courses` is. The matched
    quantities hold in every chunk, so they hold in the whole. `progress(done, n_courses)` is
    called after each chunk.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_chunks = -(-n_courses // chunk_courses)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    writers = {name: pq.ParquetWriter(out / f"{name}.parquet", _parquet_schema(name)) for name in TABLES}
    try:
        done = first_patient = 0
        for chunk_seed in seeds:
            size = min(chunk_courses, n_courses - done)
            tables = generate_cohort(size, chunk_seed, first_patient)
            first_patient += int(tables["courses"]["course_number"].eq(1).sum())
            for name in TABLES:
                writers[name].write_table(_arrow_for_parquet(tables.pop(name), name), row_group_size=1_000_000)
            done += size
            if progress is not None:
                progress(done, n_courses)
    finally:
        for writer in writers.values():
            writer.close()


PARQUET_TYPES = {"int": pa.int64(), "float": pa.float64(), "date": pa.date32(), "text": pa.string()}


def _parquet_schema(name: str) -> pa.Schema:
    return pa.schema([(column.name, PARQUET_TYPES.get(column.kind, pa.string())) for column in SPECS[name].columns])


def _arrow_for_parquet(table: pd.DataFrame, name: str) -> pa.Table:
    """The table with the same column types in every chunk (a column empty in one chunk included)."""
    schema = _parquet_schema(name)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    return pa.Table.from_arrays([pc.cast(arrow.column(field.name), field.type) for field in schema], schema=schema)


CSV_CHUNK_ROWS = 500_000


def write_table_csv(table: pd.DataFrame, path) -> None:
    """UTF-8 CSV with a header, no index, empty fields for missing values, ISO dates.

    Written in slices so that a table of tens of millions of rows needs little extra memory.
    """
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as handle:
        handle.write((",".join(table.columns) + "\n").encode("utf-8"))
        for start in range(0, len(table), CSV_CHUNK_ROWS):
            chunk = _arrow_for_csv(table.iloc[start : start + CSV_CHUNK_ROWS])
            pacsv.write_csv(chunk, handle, options)


def _arrow_for_csv(table: pd.DataFrame) -> pa.Table:
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    for i, field in enumerate(arrow.schema):
        if pa.types.is_null(field.type):  # a column empty throughout
            arrow = arrow.set_column(i, field.name, pc.cast(arrow.column(i), pa.string()))
        elif pa.types.is_timestamp(field.type):
            arrow = arrow.set_column(i, field.name, pc.cast(arrow.column(i), pa.date32()))
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            _refuse_csv_specials(arrow.column(i), field.name)
    return arrow


def _refuse_csv_specials(column: pa.ChunkedArray, name: str) -> None:
    """Values are written unquoted, so none may hold a comma, a quote or a line break."""
    if pc.any(pc.match_substring_regex(pc.unique(column), '[,"\\r\\n]')).as_py():
        raise ValueError(f"column {name} holds a comma, quote or line break")


# ---------------------------------------------------------------------------------------------
# Courses: patients, dosing, schedule, response, follow-up, relapse and retreatment
# ---------------------------------------------------------------------------------------------


def _first_courses(rng, n: int, fitted: dict) -> dict:
    """One first course for each of n candidate patients (more than will be kept)."""
    c = _draw_patients(rng, n)
    c["course_number"] = np.ones(n, dtype=np.int64)
    c["start"] = _draw_first_starts(rng, n)
    _draw_course(rng, c, PARAMETERS["baseline_iga_share"], dose_factor=1.0)
    fitted["response_rate"] = _fit_response_rate(c)
    _apply_response(c, fitted)
    _draw_follow_up(rng, c)
    fitted["relapse_p"] = _fit_relapse_probability(c)
    _draw_relapse(rng, c, fitted)
    _draw_retreatment(rng, c, n)
    return c


def _second_courses(rng, first: dict, fitted: dict) -> dict:
    """The second course of each patient retreated after the first, with its own outcome."""
    idx = np.flatnonzero(~np.isnan(first["retreat_day"]))
    n = idx.size
    c = {key: first[key][idx].copy() for key in ("patient", "sex", "site", "prior")}
    gap = first["retreat_day"][idx]
    c["age"] = np.round(first["age"][idx] + gap / 365.25, 1)
    c["weight"] = np.round(np.clip(first["weight"][idx] * np.exp(0.03 * rng.standard_normal(n)), 38, 160), 1)
    c["cbp"] = first["cbp"][idx] & (c["age"] <= 50)
    c["course_number"] = np.full(n, 2, dtype=np.int64)
    c["start"] = first["start"][idx] + gap.astype(np.int64)
    _draw_course(rng, c, PARAMETERS["second_course_baseline_iga_share"], PARAMETERS["maintenance_second_course_factor"])
    _apply_response(c, fitted)
    _draw_follow_up(rng, c)
    _draw_relapse(rng, c, fitted)
    c["retreat_day"] = np.full(n, np.nan)
    return c


def _draw_patients(rng, n: int) -> dict:
    p = PARAMETERS
    sex = rng.choice(len(SEX_VALUES), size=n, p=[p["sex_share"][s] for s in SEX_VALUES])
    young = 13.5 + rng.gamma(2.0, 3.3, n)
    adult = rng.uniform(25, 50, n)
    age = np.round(np.clip(np.where(rng.random(n) < p["adult_share"], adult, young), 12, 55), 1)
    median_weight = np.select([sex == 0, sex == 1], [62.0, 73.0], 67.0)
    growth = 0.8 + 0.2 * np.clip((age - 12) / 6, 0, 1)
    weight = np.round(np.clip(median_weight * growth * np.exp(0.15 * rng.standard_normal(n)), 38, 160), 1)
    site = rng.choice(len(SITES), size=n, p=list(p["site_share"].values()))
    return {
        "patient": np.arange(n, dtype=np.int64),
        "sex": sex,
        "age": age,
        "weight": weight,
        "site": site,
        "prior": _draw_prior_treatments(rng, sex),
        "cbp": _can_become_pregnant(rng, sex, age),
    }


def _draw_prior_treatments(rng, sex) -> np.ndarray:
    """Bit mask over PRIOR_TREATMENTS; hormonal treatment for women only."""
    shares = np.array(list(PARAMETERS["prior_treatment_share"].values()))
    taken = rng.random((sex.size, shares.size)) < shares
    taken[:, PRIOR_TREATMENTS.index("hormonal")] &= sex == 0
    return taken @ (1 << np.arange(shares.size))


def _can_become_pregnant(rng, sex, age) -> np.ndarray:
    applies = (sex == 0) & (age >= 14) & (age <= 50)
    return applies & (rng.random(sex.size) < PARAMETERS["can_become_pregnant_share"])


def _draw_first_starts(rng, n: int) -> np.ndarray:
    low, high = (np.datetime64(d, "D") for d in PARAMETERS["first_start_dates"])
    return rng.integers(_days_since_epoch(low), _days_since_epoch(high) + 1, n)


def _days_since_epoch(date: np.datetime64) -> int:
    return int((date - EPOCH).astype(np.int64))


def _choice_by_row(rng, shares: np.ndarray) -> np.ndarray:
    """One category per row, each row with its own probabilities (rows of `shares`)."""
    cumulative = np.cumsum(shares, axis=1)
    u = rng.random(shares.shape[0])[:, None] * cumulative[:, -1:]
    return (u >= cumulative).sum(axis=1)


def _draw_course(rng, c: dict, iga_share: dict, dose_factor: float) -> None:
    """Severity, dosing, length, how the course ended and its visit schedule."""
    n = c["sex"].size
    levels = np.array(list(iga_share))
    c["baseline_iga"] = levels[rng.choice(levels.size, size=n, p=list(iga_share.values()))]
    type_shares = np.array([ACNE_TYPE_SHARE[i] for i in (2, 3, 4)])
    c["acne_type"] = _choice_by_row(rng, type_shares[c["baseline_iga"] - 2])
    _draw_baseline_lesions(rng, c)
    _draw_doses(rng, c, dose_factor)
    _draw_end(rng, c)
    _draw_schedule(rng, c)
    _draw_dose_reduction(rng, c)
    _apply_dosing(c)
    _draw_flare(rng, c)
    _draw_mood(rng, c)


def _draw_baseline_lesions(rng, c: dict) -> None:
    p = PARAMETERS["baseline_lesions"]
    iga = c["baseline_iga"]
    n = iga.size

    def by_iga(table):
        return np.array([table[i] for i in (2, 3, 4)])[iga - 2]

    c["base_pp"] = np.round(by_iga(p["papules_pustules"]) * np.exp(0.4 * rng.standard_normal(n)))
    c["base_ni"] = np.round(by_iga(p["noninflammatory"]) * np.exp(0.5 * rng.standard_normal(n)))
    c["base_nod"] = rng.poisson(by_iga(p["nodules_mean"]) * rng.gamma(2.0, 0.5, n)).astype(float)
    # Position within the IGA grade: where the course's severity sits between grades.
    c["iga_latent"] = iga + rng.random(n)
    c["response_z"] = rng.standard_normal(n)


def _draw_doses(rng, c: dict, dose_factor: float) -> None:
    p = PARAMETERS
    n = c["sex"].size
    step = p["capsule_mg"]
    median, log_sd = p["maintenance_mg_per_kg_day"]
    per_kg = median * dose_factor * np.exp(log_sd * rng.standard_normal(n))
    maintenance = np.maximum(step, np.round(per_kg * c["weight"] / step) * step)
    titration = np.maximum(step, np.round(p["titration_mg_per_kg_day"] * c["weight"] / step) * step)
    c["maintenance_mg"] = maintenance
    c["titration_mg"] = np.minimum(titration, maintenance)
    c["maintenance_per_kg"] = maintenance / c["weight"]
    days_median, days_sd = p["course_days"]
    elasticity = (c["maintenance_per_kg"] / median) ** p["course_days_dose_elasticity"]
    low, high = p["course_days_range"]
    c["planned_days"] = np.clip(
        np.round(days_median * elasticity * np.exp(days_sd * rng.standard_normal(n))), low, high
    ).astype(np.int64)


def _draw_end(rng, c: dict) -> None:
    """Why and when the course ended; early ends come before the planned last dose."""
    p = PARAMETERS
    n = c["sex"].size
    shares = list(p["end_reason_share"].values())
    reason = rng.choice(len(shares), size=n, p=shares)
    reason[(c["cbp"]) & (rng.random(n) < p["pregnancy_share"])] = PREGNANCY
    planned = c["planned_days"]
    fraction_done = rng.uniform(0.15, 0.85, n)
    early = np.round(planned * fraction_done)
    adverse = np.round(50 * np.exp(0.6 * rng.standard_normal(n)))
    end = np.where(reason == COMPLETED, planned, np.where(reason == ADVERSE_EVENT, adverse, early))
    c["end_reason"] = reason
    c["end_day"] = np.clip(end, 14, planned).astype(np.int64)


def _draw_schedule(rng, c: dict) -> None:
    """Visit days per slot and which visits took place (lost courses stop coming)."""
    p = PARAMETERS
    n = c["end_day"].size
    end = c["end_day"][:, None]
    day = np.zeros((n, N_SLOTS), dtype=np.int64)
    screening = rng.random(n) < p["screening_visit_share"]
    day[:, BASELINE] = np.where(screening, -rng.integers(1, 15, n), 0)
    jitter = p["visit_jitter_days"]
    day[:, 1:END] = np.round(MONTH_SLOTS * DAYS_PER_MONTH) + rng.integers(-jitter, jitter + 1, (n, MONTH_SLOTS.size))
    day[:, END] = c["end_day"]
    day[:, FOLLOW_UP_1] = c["end_day"] + rng.integers(28, 43, n)
    day[:, FOLLOW_UP_2] = c["end_day"] + rng.integers(90, 181, n)
    scheduled = np.ones((n, N_SLOTS), dtype=bool)
    scheduled[:, 1:END] = day[:, 1:END] <= end - 10
    lost = c["end_reason"] == LOST
    scheduled[lost, END:] = False
    scheduled[:, FOLLOW_UP_2] &= rng.random(n) < p["second_follow_up_visit_share"]
    attended = scheduled.copy()
    attended[:, 1:END] &= rng.random((n, MONTH_SLOTS.size)) >= p["missed_visit_share"]
    c["day"] = day
    c["scheduled"] = scheduled  # follow-up slots are further limited once follow-up is known
    c["attended"] = attended


def _draw_dose_reduction(rng, c: dict) -> None:
    """Some courses lower the dose after an adverse event, from the next visit on."""
    p = PARAMETERS
    n = c["end_day"].size
    onset = np.round(40 * np.exp(0.5 * rng.standard_normal(n)))
    amount = np.minimum(c["maintenance_mg"] - p["capsule_mg"], np.where(c["maintenance_mg"] <= 40, 10, 20))
    reduced = (rng.random(n) < p["dose_reduction_share"]) & (onset < c["end_day"] - 10) & (amount > 0)
    c["reduction_day"] = np.where(reduced, onset, np.nan)
    c["reduction_mg"] = np.where(reduced, amount, 0.0)


def _apply_dosing(c: dict) -> None:
    """Dose recorded at each visit, and the mg taken before each visit and in all.

    A dose holds from its visit until the next visit (or the last dose), the rule
    `analysis.cohort.model` uses to integrate visit doses, so a given and an integrated
    cumulative dose agree.
    """
    day, attended, end = c["day"], c["attended"], c["end_day"][:, None]
    on_treatment = np.zeros_like(attended)
    on_treatment[:, 1:FOLLOW_UP_1] = True
    dose = np.where(on_treatment, c["maintenance_mg"][:, None], c["titration_mg"][:, None])
    reduced = day > np.nan_to_num(c["reduction_day"], nan=np.inf)[:, None]
    dose = np.where(reduced & on_treatment, dose - c["reduction_mg"][:, None], dose)
    dosed = attended & (np.arange(N_SLOTS) < FOLLOW_UP_1)
    dose = np.where(dosed, dose, np.nan)
    visit_days = np.where(dosed, day, np.iinfo(np.int64).max).astype(float)
    next_day = np.minimum.accumulate(visit_days[:, ::-1], axis=1)[:, ::-1]
    next_day = np.concatenate([next_day[:, 1:], np.full((day.shape[0], 1), np.inf)], axis=1)
    span = np.clip(np.minimum(next_day, end + 1) - np.maximum(day, 0), 0, None)
    mg = np.where(dosed, span * np.nan_to_num(dose), 0.0)
    c["dose"] = dose
    c["mg_before"] = np.cumsum(mg, axis=1) - mg
    c["cumulative_mg"] = mg.sum(axis=1)


def _draw_flare(rng, c: dict) -> None:
    """Initial flare: a third of courses peak above baseline in the first six weeks."""
    p = PARAMETERS
    n = c["end_day"].size
    severity = p["flare_severity_share"]
    shares = np.array([1 - sum(severity.values()), *severity.values()])
    shares[1:] *= p["flare_share"] / shares[1:].sum()
    shares[0] = 1 - shares[1:].sum()
    level = rng.choice(4, size=n, p=shares)
    low = np.array([0.0, 1.15, 1.35, 1.7])[level]
    high = np.array([0.0, 1.35, 1.7, 2.5])[level]
    c["flare"] = level > 0
    c["flare_peak"] = rng.uniform(low, high)  # lesions at the peak, relative to baseline


def _draw_mood(rng, c: dict) -> None:
    p = PARAMETERS
    n = c["end_day"].size
    shape, scale = p["phq9_baseline_gamma"]
    c["phq9_base"] = np.clip(np.round(rng.gamma(shape, scale, n)), 0, 27)
    worse = (c["phq9_base"] < 10) & (rng.random(n) < p["phq9_worsening_share"])
    onset = rng.uniform(20, np.maximum(c["end_day"], 21))
    c["mood_onset"] = np.where(worse, np.round(onset), np.nan)


def _fit_response_rate(c: dict) -> float:
    """Lesion response per mg/kg, so the median completed course ends at the published change."""
    done = c["end_reason"] == COMPLETED
    exposure = _exposure_after_lag(c["mg_before"][:, END] / c["weight"])
    spread = np.exp(PARAMETERS["response_log_sd"] * c["response_z"])
    target = -np.log1p(PARAMETERS["end_of_course_lesion_change"])
    return float(target / np.median((spread * exposure)[done]))


def _exposure_after_lag(mg_per_kg):
    return np.maximum(mg_per_kg - PARAMETERS["response_lag_mg_per_kg"], 0)


def _apply_response(c: dict, fitted: dict) -> None:
    rate = fitted["response_rate"] * np.exp(PARAMETERS["response_log_sd"] * c["response_z"])
    c["response_rate"] = rate
    c["log_level_end"] = -rate * _exposure_after_lag(c["mg_before"][:, END] / c["weight"])
    c["cumulative_mg_per_kg"] = c["cumulative_mg"] / c["weight"]


def _draw_follow_up(rng, c: dict) -> None:
    """Last day observed: up to years after the course, cut at the data cut-off; lost ones short."""
    p = PARAMETERS
    n = c["end_day"].size
    low, high = p["followup_years"]
    years = np.where(rng.random(n) < p["short_followup_share"], rng.uniform(0, low, n), rng.uniform(low, high, n))
    after = np.round(years * 365.25)
    after = np.where(c["end_reason"] == LOST, rng.integers(0, 31, n), after)
    cutoff = _days_since_epoch(np.datetime64(p["data_cutoff"], "D"))
    room = np.maximum(cutoff - c["start"] - c["end_day"], 0)
    c["days_to_cutoff"] = cutoff - c["start"]
    c["followup_end_day"] = c["end_day"] + np.minimum(after, room).astype(np.int64)
    c["scheduled"][:, FOLLOW_UP_1:] &= c["day"][:, FOLLOW_UP_1:] <= c["followup_end_day"][:, None]
    c["attended"] &= c["scheduled"]


def _relapse_hazard_ratio(c: dict) -> np.ndarray:
    p = PARAMETERS
    log_hr = np.log(p["relapse_hr_per_mg_per_kg"]) * (c["cumulative_mg_per_kg"] - 120)
    return np.exp(log_hr + np.log(p["relapse_hr_female"]) * (c["sex"] == 0))


def _relapse_time_cdf(days):
    p = PARAMETERS
    return ndtr(np.log(days / p["relapse_median_days"]) / p["relapse_time_log_sd"])


def _fit_relapse_probability(c: dict) -> float:
    """Eventual relapse of a reference course, so the cohort's 1-year relapse is `relapse_1y`.

    Relapse-free survival is S(t) = (1 - p F(t)) ** hr: proportional hazards around a baseline
    in which a share p eventually relapses, at lognormal times F.
    """
    hr = _relapse_hazard_ratio(c)
    at_year = _relapse_time_cdf(365.0)
    target = PARAMETERS["relapse_1y"]

    def excess(prob):
        return np.mean(1 - (1 - prob * at_year) ** hr) - target

    return float(brentq(excess, 1e-6, 1.0)) if excess(1.0) > 0 else 1.0


def _draw_relapse(rng, c: dict, fitted: dict) -> None:
    hr = _relapse_hazard_ratio(c)
    prob = fitted["relapse_p"]
    u = rng.random(hr.size)
    quantile = (1 - u ** (1 / hr)) / prob
    relapses = quantile < 1
    p = PARAMETERS
    days = p["relapse_median_days"] * np.exp(p["relapse_time_log_sd"] * ndtri(np.clip(quantile, 1e-12, 1 - 1e-12)))
    day = c["end_day"] + np.maximum(np.ceil(days), 1)
    observed = relapses & (day <= c["followup_end_day"])
    c["relapse_day"] = np.where(observed, day, np.nan)


def _draw_retreatment(rng, c: dict, n_patients: int) -> None:
    """A second course after most observed relapses, and after some poor responses.

    The share retreated after a relapse is solved so that the published share of patients
    with a second course holds; a second course must start 8 weeks after the first ended,
    within follow-up, and end before the data cut-off.
    """
    p = PARAMETERS
    n = c["end_day"].size
    delay_median, delay_sd = p["retreat_delay_days"]
    after_relapse = c["relapse_day"] + 14 + np.round(delay_median * np.exp(delay_sd * rng.standard_normal(n)))
    poor = np.isnan(c["relapse_day"]) & (c["log_level_end"] > np.log(0.2)) & (c["end_reason"] != LOST)
    after_poor = np.where(poor, c["end_day"] + rng.integers(90, 366, n), np.nan)
    day = np.fmax(np.fmin(after_relapse, after_poor), c["end_day"] + p["retreat_min_gap_days"])
    longest = p["course_days_range"][1]
    feasible = (day <= c["followup_end_day"]) & (day <= c["days_to_cutoff"] - longest)
    by_relapse = feasible & ~np.isnan(after_relapse)
    by_poor = feasible & poor
    rest = p["second_course_share"] * n_patients - p["retreat_without_relapse"] * by_poor.sum()
    share = float(np.clip(rest / max(by_relapse.sum(), 1), 0, 1))
    u = rng.random(n)
    chosen = (by_relapse & (u < share)) | (by_poor & (u < p["retreat_without_relapse"]))
    c["retreat_day"] = np.where(chosen, day, np.nan)


def _keep_patients_for(c: dict, n_courses: int) -> dict:
    """The first patients whose courses add up to exactly n_courses."""
    second = ~np.isnan(c["retreat_day"])
    total = np.arange(1, second.size + 1) + np.cumsum(second)
    k = int(np.searchsorted(total, n_courses)) + 1
    kept = {key: value[:k] for key, value in c.items()}
    if total[k - 1] > n_courses:  # the last patient's second course would be one too many
        kept["retreat_day"] = kept["retreat_day"].copy()
        kept["retreat_day"][k - 1] = np.nan
    return kept


def _concat(a: dict, b: dict) -> dict:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


def _patient_order(c: dict) -> dict:
    order = np.lexsort((c["course_number"], c["patient"]))
    return {key: value[order] for key, value in c.items()}


def _hide_follow_up_after_retreatment(c: dict) -> None:
    """Once the next course starts, later visits belong to it, not to the first course."""
    retreat = np.nan_to_num(c["retreat_day"], nan=np.inf)[:, None]
    c["attended"][:, FOLLOW_UP_1:] &= c["day"][:, FOLLOW_UP_1:] < retreat
    c["scheduled"][:, FOLLOW_UP_1:] &= c["day"][:, FOLLOW_UP_1:] < retreat


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _patient_ids(patient: np.ndarray) -> np.ndarray:
    """Pseudonyms P000001, P000002, ... (seven digits past a million patients)."""
    number = patient + 1
    width = max(6, len(str(int(number.max()))))
    digits = (number[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10
    chars = np.concatenate([np.full((number.size, 1), ord("P")), digits + ord("0")], axis=1)
    return chars.astype(np.uint8).view(f"S{width + 1}").ravel().astype(str).astype(object)


def _labels(vocabulary, codes) -> np.ndarray:
    return np.asarray(vocabulary, dtype=object)[codes]


def _typed_table(name: str, columns: dict) -> pd.DataFrame:
    """A frame with every canonical column of the table, in order, typed as the schema says.

    Integer and float columns are nullable (Int64, Float64), as `analysis.cohort.model` expects.
    The arrays are handed over without copies: at a million courses memory is the limit.
    """
    n = len(next(iter(columns.values())))
    data = {column.name: _typed_array(column.kind, columns.pop(column.name, None), n) for column in SPECS[name].columns}
    return pd.DataFrame(data, copy=False)


def _typed_array(kind: str, values, n: int):
    if values is None:
        values = np.full(n, np.nan) if kind in ("int", "float") else np.full(n, None, dtype=object)
    values = np.asarray(values)
    if kind == "int":
        if values.dtype.kind == "f":
            missing = np.isnan(values)
            return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
        return pd.arrays.IntegerArray(values.astype(np.int64, copy=False), np.zeros(values.size, dtype=bool))
    if kind == "float":
        values = values.astype(float, copy=False)
        return pd.arrays.FloatingArray(values, np.isnan(values))
    if kind == "date":
        return values.astype("datetime64[D]").astype("datetime64[ns]")
    return values.astype(object, copy=False)


def _courses_table(rng, c: dict) -> pd.DataFrame:
    p = PARAMETERS
    n = c["patient"].size
    c["patient_id"] = _patient_ids(c["patient"])
    prior_names = np.array(
        [
            ";".join(t for b, t in enumerate(PRIOR_TREATMENTS) if mask >> b & 1) or None
            for mask in range(1 << len(PRIOR_TREATMENTS))
        ],
        dtype=object,
    )
    given = rng.random(n) >= p["cumulative_dose_missing_share"]
    return _typed_table(
        "courses",
        {
            "patient_id": c["patient_id"],
            "course_number": c["course_number"],
            "sex": _labels(SEX_VALUES, c["sex"]),
            "age": c["age"],
            "weight_kg": c["weight"],
            "baseline_iga": c["baseline_iga"],
            "acne_type": _labels(ACNE_TYPES, c["acne_type"]),
            "prior_treatments": prior_names[c["prior"]],
            "site": _labels(SITES, c["site"]),
            "start_date": EPOCH + c["start"],
            "end_day": c["end_day"],
            "cumulative_dose_mg": np.where(given, c["cumulative_mg"], np.nan),
            "end_reason": _labels(END_REASON_CODES, c["end_reason"]),
            "followup_end_day": c["followup_end_day"],
            "relapse_day": c["relapse_day"],
            "retreat_day": c["retreat_day"],
            "can_become_pregnant": np.where(c["cbp"], "yes", "no").astype(object),
        },
    )


# ---- Visits -----------------------------------------------------------------------------------


def _visits_table(rng, c: dict) -> pd.DataFrame:
    flat = np.flatnonzero(c["attended"])
    ci, slot = (flat // N_SLOTS).astype(np.int32), (flat % N_SLOTS).astype(np.int8)
    del flat
    day = c["day"][ci, slot]
    log_level = _lesion_log_levels(rng, c, ci, slot, day)
    counts = _lesion_counts(rng, c, ci, slot, log_level)
    _keep_flare_definition(c, ci, day, counts)
    inflammatory = counts["pp"] + counts["nodules"]
    total = inflammatory + counts["ni"]
    total = np.where(c["site"][ci] == SITES.index(PARAMETERS["derived_total_site"]), np.nan, total)
    slope = _fit_iga_slope(c)
    return _typed_table(
        "visits",
        {
            "patient_id": c["patient_id"][ci],
            "course_number": c["course_number"][ci],
            "day": day,
            "visit": _labels(SLOT_LABELS, slot),
            "iga": _iga(rng, c, ci, slot, log_level, slope),
            "inflammatory_lesions": inflammatory,
            "noninflammatory_lesions": counts["ni"],
            "nodules": counts["nodules"],
            "total_lesions": total,
            "dose_mg_per_day": c["dose"][ci, slot],
            "phq9": _phq9(rng, c, ci, slot, day),
        },
    )


def _lesion_log_levels(rng, c, ci, slot, day):
    """Log of expected lesions relative to baseline per visit, an initial flare included."""
    exposure = _exposure_after_lag(c["mg_before"][ci, slot] / c["weight"][ci])
    log_level = -c["response_rate"][ci] * exposure
    after = slot >= FOLLOW_UP_1
    settled = c["log_level_end"][ci] + np.log(rng.uniform(0.7, 1.0, ci.size))
    log_level = np.where(after, settled, log_level)
    low, high = PARAMETERS["relapse_lesion_level"]
    relapsed = after & (day >= np.nan_to_num(c["relapse_day"][ci], nan=np.inf))
    log_level = np.where(relapsed, np.maximum(log_level, np.log(rng.uniform(low, high, ci.size))), log_level)
    log_level[slot == BASELINE] = 0.0
    return log_level + np.log(_flare_multiplier(c, ci, day, log_level))


def _flare_multiplier(c, ci, day, log_level):
    """A bump around day 28 that lifts flaring courses to their peak level."""
    peak_day = PARAMETERS["flare_peak_day"]
    bump = np.exp(-(((day - peak_day) / 16.0) ** 2)) * (day > 0) * (day <= 60)
    lift = np.maximum(c["flare_peak"][ci] / np.exp(log_level) - 1, 0) * c["flare"][ci]
    return 1 + lift * bump


def _lesion_counts(rng, c, ci, slot, log_level) -> dict:
    noise = np.exp(0.15 * rng.standard_normal(ci.size))
    level = np.exp(log_level) * noise
    nodule_level = np.exp(log_level * PARAMETERS["nodule_response_exponent"]) * noise
    baseline = slot == BASELINE
    counts = {}
    for key, base, rel in (("pp", "base_pp", level), ("ni", "base_ni", level), ("nodules", "base_nod", nodule_level)):
        drawn = rng.poisson(c[base][ci] * rel).astype(float)
        counts[key] = np.where(baseline, c[base][ci], drawn)
    return counts


def _keep_flare_definition(c, ci, day, counts) -> None:
    """Days 1-42: flaring courses at least 10% above baseline, others below it (Demircay's cut)."""
    base_total = (c["base_pp"] + c["base_ni"] + c["base_nod"])[ci]
    threshold = np.ceil(1.1 * base_total - 1e-9)
    window = (day >= 1) & (day <= 42) & (base_total > 0)
    total = counts["pp"] + counts["ni"] + counts["nodules"]
    flare = c["flare"][ci]
    short = window & flare & (total < threshold)
    counts["pp"] = np.where(short, counts["pp"] + threshold - total, counts["pp"])
    excess = np.where(window & ~flare & (total >= threshold), total - threshold + 1, 0)
    from_ni = np.minimum(excess, counts["ni"])
    counts["ni"] = counts["ni"] - from_ni
    counts["pp"] = np.maximum(counts["pp"] - (excess - from_ni), 0)


def _fit_iga_slope(c: dict) -> float:
    """How fast IGA falls with log lesions, so that 87% of completed first courses end at 0/1."""
    done = (c["end_reason"] == COMPLETED) & (c["course_number"] == 1)
    latent = c["iga_latent"][done]
    log_level = c["log_level_end"][done]
    target = PARAMETERS["end_of_course_iga01"]

    def excess(slope):
        return np.mean(ndtr((2 - latent - slope * log_level) / PARAMETERS["iga_visit_sd"])) - target

    return float(brentq(excess, 0.0, 20.0)) if excess(0.0) < 0 < excess(20.0) else 1.0


def _iga(rng, c, ci, slot, log_level, slope):
    latent = c["iga_latent"][ci] + slope * log_level + PARAMETERS["iga_visit_sd"] * rng.standard_normal(ci.size)
    iga = np.clip(np.floor(latent), 0, 4)
    return np.where(slot == BASELINE, c["baseline_iga"][ci], iga)


def _phq9(rng, c, ci, slot, day):
    """Mostly steady low scores; a few courses rise to 10 or more on treatment."""
    p = PARAMETERS
    base = c["phq9_base"][ci]
    score = np.clip(base + np.round(1.5 * rng.standard_normal(ci.size)), 0, 27)
    score = np.where(base < 10, np.minimum(score, 9), score)
    onset = np.nan_to_num(c["mood_onset"][ci], nan=np.inf)
    worse = (day >= onset) & (day <= c["end_day"][ci] + 30)
    score = np.where(worse, rng.integers(10, 17, ci.size), score)
    score = np.where(slot == BASELINE, base, score)
    return np.where(rng.random(ci.size) < p["phq9_missing_share"], np.nan, score)


# ---- Adverse events ---------------------------------------------------------------------------

# Preferred-term group -> (terms as written with relative weights, median onset day).
AE_TERMS = {
    "cheilitis": (
        {"dry lips": 40, "chapped lips": 25, "lip dryness": 10, "cheilitis": 20, "chelitis": 3, "dry lipps": 2},
        12,
    ),
    "xerosis": ({"dry skin": 60, "xerosis": 25, "skin dryness": 12, "dry skn": 3}, 21),
    "dry_eyes": ({"dry eyes": 55, "dry eye": 25, "eye dryness": 17, "dry eys": 3}, 30),
    "nasal_dryness": ({"nasal dryness": 60, "dry nose": 40}, 25),
    "epistaxis": ({"nose bleed": 35, "nosebleeds": 30, "epistaxis": 30, "epistaxsis": 5}, 35),
    "arthralgia": ({"joint pain": 65, "arthralgia": 30, "sore joints": 5}, 45),
    "myalgia": ({"muscle pain": 50, "myalgia": 40, "muscle aches": 10}, 45),
    "back_pain": ({"back pain": 95, "backache": 5}, 45),
    "hair_loss": ({"hair loss": 50, "hair thinning": 40, "thinning hair": 10}, 60),
    "headache": ({"headache": 80, "headaches": 15, "head ache": 5}, 20),
    "mood": ({"low mood": 40, "depression": 30, "mood swings": 30}, 60),
    "vision": ({"blurred vision": 50, "night blindness": 30, "blurry vision": 20}, 60),
    "unrecognised": ({"sunburn": 50, "itchy scalp": 30, "stomach upset": 20}, 50),
}
AE_GROUPS = tuple(AE_TERMS)
# Events that lead to a lower dose, and to stopping a course.
REDUCTION_CAUSES = {"cheilitis": 35, "xerosis": 25, "arthralgia": 20, "back_pain": 10, "headache": 10}
DISCONTINUATION_CAUSES = {
    "mood": 25,
    "arthralgia": 15,
    "back_pain": 10,
    "headache": 15,
    "xerosis": 10,
    "cheilitis": 15,
    "vision": 5,
    "epistaxis": 5,
}
ACTIONS = ("none", "dose_reduced", "interrupted", "discontinued")


def _ae_incidence(c: dict) -> dict[str, np.ndarray]:
    """Probability of each event group per course."""
    p = PARAMETERS
    n = c["end_day"].size
    (d0, p0), (d1, p1) = p["cheilitis_by_dose"]
    dose = c["maintenance_per_kg"]
    hair = np.where(dose < 0.5, p["hair_loss"]["<0.5"], p["hair_loss"][">=0.5"])
    mood = np.where(np.isnan(c["mood_onset"]), p["mood"], 0.5)
    fixed = {
        g: np.full(n, p[g])
        for g in (
            "xerosis",
            "dry_eyes",
            "nasal_dryness",
            "epistaxis",
            "arthralgia",
            "myalgia",
            "back_pain",
            "headache",
            "vision",
        )
    }
    return {
        "cheilitis": np.interp(dose, [d0, d1], [p0, p1]),
        "hair_loss": hair,
        "mood": mood,
        "unrecognised": np.full(n, p["unrecognised_terms"]),
        **fixed,
    }


def _adverse_events_table(rng, c: dict) -> pd.DataFrame:
    ci, group, onset, action = _ae_occurrences(rng, c)
    order = np.lexsort((group, onset, ci))
    ci, group, onset, action = ci[order], group[order], onset[order], action[order]
    grade = _ae_grade(rng, action)
    return _typed_table(
        "adverse_events",
        {
            "patient_id": c["patient_id"][ci],
            "course_number": c["course_number"][ci],
            "term": _ae_terms(rng, group),
            "onset_day": onset,
            "resolved_day": _ae_resolution(rng, c, ci, group, onset),
            "grade": grade,
            "serious": np.where((grade == 3) & (rng.random(ci.size) < 0.3), "yes", "no").astype(object),
            "action": _labels(ACTIONS, action),
        },
    )


def _ae_occurrences(rng, c: dict):
    """Course, group, onset day and action of every event; events start while on the drug."""
    parts = []
    for g, prob in _ae_incidence(c).items():
        median = AE_TERMS[g][1]
        onset = np.maximum(np.round(median * np.exp(0.6 * rng.standard_normal(prob.size))), 1)
        if g == "mood":
            onset = np.where(np.isnan(c["mood_onset"]), onset, c["mood_onset"])
        happened = (rng.random(prob.size) < prob) & (onset <= c["end_day"])
        idx = np.flatnonzero(happened)
        interrupted = rng.random(idx.size) < 0.005
        parts.append((idx, np.full(idx.size, AE_GROUPS.index(g)), onset[idx], np.where(interrupted, 2, 0)))
    reduced = np.flatnonzero(~np.isnan(c["reduction_day"]))
    parts.append(
        (
            reduced,
            _pick_groups(rng, REDUCTION_CAUSES, reduced.size),
            c["reduction_day"][reduced],
            np.full(reduced.size, 1),
        )
    )
    stopped = np.flatnonzero(c["end_reason"] == ADVERSE_EVENT)
    stop_onset = np.maximum(c["end_day"][stopped] - rng.integers(0, 8, stopped.size), 1)
    parts.append(
        (stopped, _pick_groups(rng, DISCONTINUATION_CAUSES, stopped.size), stop_onset, np.full(stopped.size, 3))
    )
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))


def _pick_groups(rng, weights: dict, size: int) -> np.ndarray:
    shares = np.array(list(weights.values()), dtype=float)
    codes = np.array([AE_GROUPS.index(g) for g in weights])
    return codes[rng.choice(codes.size, size=size, p=shares / shares.sum())]


def _ae_terms(rng, group) -> np.ndarray:
    """The words a clinic wrote: a synonym or misspelling of the group's preferred term."""
    terms = np.empty(group.size, dtype=object)
    for g, (written, _) in enumerate(AE_TERMS.values()):
        rows = np.flatnonzero(group == g)
        weights = np.array(list(written.values()), dtype=float)
        terms[rows] = _labels(tuple(written), rng.choice(weights.size, size=rows.size, p=weights / weights.sum()))
    return terms


def _ae_grade(rng, action) -> np.ndarray:
    normal = 1 + rng.choice(3, size=action.size, p=PARAMETERS["ae_grade_share"])
    reduced = np.where(rng.random(action.size) < 0.85, 2, 3)
    stopped = np.where(rng.random(action.size) < 0.6, 2, 3)
    return np.select([action == 1, action == 3], [reduced, stopped], normal)


def _ae_resolution(rng, c, ci, group, onset) -> np.ndarray:
    """Most resolve on treatment or within weeks of the last dose; unobserved ones stay empty."""
    p = PARAMETERS
    n = ci.size
    median, log_sd = p["ae_resolution_days_after_end"]
    after_end = c["end_day"][ci] + np.round(median * np.exp(log_sd * rng.standard_normal(n)))
    on_treatment = onset + np.round(14 * np.exp(0.7 * rng.standard_normal(n)))
    u = rng.random(n)
    unresolved = p["ae_unresolved_share"] * np.where(group == AE_GROUPS.index("hair_loss"), 3, 1)
    early = unresolved + p["ae_resolved_on_treatment_share"]
    resolved = np.where(u < unresolved, np.nan, np.where(u < early, on_treatment, after_end))
    resolved = np.maximum(resolved, onset)
    return np.where(resolved <= c["followup_end_day"][ci], resolved, np.nan)


# ---- Laboratory results -----------------------------------------------------------------------

LAB_TESTS = ("ALT", "AST", "TG", "TC", "LDL", "HDL", "CK", "BILI", "HCG")
# Unit, factor from mg/dL or U/L, decimals: conventional sites, then the SI-unit site.
CONVENTIONAL_UNITS = {
    "ALT": ("U/L", 1, 0),
    "AST": ("U/L", 1, 0),
    "TG": ("mg/dL", 1, 0),
    "TC": ("mg/dL", 1, 0),
    "LDL": ("mg/dL", 1, 0),
    "HDL": ("mg/dL", 1, 0),
    "CK": ("U/L", 1, 0),
    "BILI": ("mg/dL", 1, 2),
    "HCG": ("mIU/mL", 1, 0),
}
SI_UNITS = {
    **CONVENTIONAL_UNITS,
    "ALT": ("ukat/L", 1 / 60, 2),
    "AST": ("ukat/L", 1 / 60, 2),
    "TG": ("mmol/L", 1 / 88.57, 2),
    "TC": ("mmol/L", 1 / 38.67, 2),
    "LDL": ("mmol/L", 1 / 38.67, 2),
    "HDL": ("mmol/L", 1 / 38.67, 2),
    "BILI": ("umol/L", 17.1, 0),
}
NEW_ABNORMAL = {"TG": "new_abnormal_tg", "TC": "new_abnormal_tc"}
# Margins around the upper limit that survive unit conversion and rounding.
ABOVE_LIMIT, BELOW_LIMIT = 1.03, 0.97


def _labs_table(rng, c: dict) -> pd.DataFrame:
    ci, slot, test = _lab_rows(rng, c)
    value = np.empty(ci.size)
    for t, name in enumerate(LAB_TESTS):
        rows = np.flatnonzero(test == t)
        value[rows] = _lab_values(rng, c, name, ci[rows], slot[rows])
    si_site = SITES.index(PARAMETERS["si_unit_site"])
    unit_code = (2 * test + (c["site"][ci] == si_site)).astype(np.int8)
    _to_site_units(value, unit_code)
    no_limits = rng.random(ci.size) < PARAMETERS["limits_missing_share"]
    columns = {"value": value}
    for column, limits in (("lower_limit", LAB_LOWER), ("upper_limit", LAB_UPPER)):
        columns[column] = limits[unit_code]
        columns[column][no_limits] = np.nan
    del no_limits
    columns.update(
        patient_id=c["patient_id"][ci],
        course_number=c["course_number"][ci],
        day=c["day"][ci, slot],
        visit=_labels(SLOT_LABELS, slot),
        test=_labels(LAB_TESTS, test),
        unit=LAB_UNIT_LABELS[unit_code],
    )
    return _typed_table("labs", columns)


def _lab_rows(rng, c: dict):
    """(course, slot, test) of every result, in course, day and test order.

    Liver tests and lipids at baseline, month 1, then every 3 months on treatment and once after
    the course; a pregnancy test at every visit for courses that can become pregnant.
    """
    p = PARAMETERS
    n = c["end_day"].size
    scheduled = c["scheduled"]
    drawn = rng.random((n, N_SLOTS)) >= p["missed_lab_share"]
    drawn[:, BASELINE] = rng.random(n) >= 0.03
    panel_slots = np.zeros(N_SLOTS, dtype=bool)
    panel_slots[[BASELINE, *p["lab_schedule_months"], FOLLOW_UP_1]] = True
    panel = scheduled & drawn & panel_slots
    hcg_slots = np.ones(N_SLOTS, dtype=bool)
    hcg_slots[[END, FOLLOW_UP_2]] = False
    hcg = scheduled & hcg_slots & c["cbp"][:, None] & (rng.random((n, N_SLOTS)) < p["hcg_compliance"])
    hcg[:, BASELINE] = c["cbp"] & (rng.random(n) >= 0.03)
    hcg[:, END] = c["end_reason"] == PREGNANCY
    profile = rng.random((n, N_SLOTS)) < p["lipid_profile_share"]
    included = np.stack(
        [
            panel,
            panel,
            panel,
            panel,
            panel & profile,
            panel & profile,
            panel & (rng.random((n, N_SLOTS)) < p["ck_share"]),
            panel & (rng.random((n, N_SLOTS)) < p["bilirubin_share"]),
            hcg,
        ],
        axis=2,
    )
    flat = np.flatnonzero(included)
    tests = len(LAB_TESTS)
    return (
        (flat // (N_SLOTS * tests)).astype(np.int32),
        (flat // tests % N_SLOTS).astype(np.int8),
        (flat % tests).astype(np.int8),
    )


def _lab_baseline(rng, c: dict, name: str) -> np.ndarray:
    """Each course's baseline value of one test, in mg/dL or U/L."""
    base = PARAMETERS["lab_baseline"]
    n = c["end_day"].size
    if name in ("HDL", "CK"):
        (fm, fs), (mm, ms) = base[f"{name}_F"], base[f"{name}_M"]
        female = c["sex"] == 0
        median, log_sd = np.where(female, fm, mm), np.where(female, fs, ms)
    else:
        median, log_sd = base[name]
    return median * np.exp(log_sd * rng.standard_normal(n))


def _lab_values(rng, c, name, ci, slot) -> np.ndarray:
    """Values in mg/dL or U/L for one test's rows."""
    if name == "HCG":
        return _hcg_values(rng, c, ci, slot)
    baseline = _lab_baseline(rng, c, name)
    if name == "BILI":
        gilbert = rng.random(baseline.size) < PARAMETERS["gilbert_share"]
        baseline = np.where(gilbert, baseline * 2.5, baseline)
        return baseline[ci] * np.exp(0.1 * rng.standard_normal(ci.size))
    if name == "CK":
        exercise = np.where(rng.random(ci.size) < 0.06, rng.uniform(2, 6, ci.size), 1.0)
        return baseline[ci] * exercise * np.exp(0.15 * rng.standard_normal(ci.size))
    if name == "LDL":
        return baseline[ci] * np.exp(0.08 * rng.standard_normal(ci.size)) * np.where(slot == BASELINE, 1.0, 1.08)
    if name == "HDL":
        return (
            baseline[ci]
            * np.exp(0.06 * rng.standard_normal(ci.size))
            * np.where(slot == BASELINE, 1.0, PARAMETERS["lab_rise"]["HDL"])
        )
    return _rising_test_values(rng, c, name, baseline, ci, slot)


def _rising_test_values(rng, c, name, baseline, ci, slot) -> np.ndarray:
    """ALT, AST, TG, TC: a set share of normal-baseline courses above the limit on treatment."""
    p = PARAMETERS
    n = baseline.size
    limit = p["reference_limits"][name][1]
    normal = baseline <= limit * BELOW_LIMIT
    baseline = np.where(baseline > limit * BELOW_LIMIT, np.maximum(baseline, limit * ABOVE_LIMIT), baseline)
    rises = _course_rises_above_limit(rng, c, name, n) & normal
    severe = rng.random(n) < p["lab_severe_share"][name]
    median, log_sd = p["lab_excess_over_limit"][name]
    excess = np.where(severe, rng.uniform(2.5, 6.0, n), median * np.exp(log_sd * rng.standard_normal(n)))
    peak = limit * (ABOVE_LIMIT + excess)
    b, r, pk = baseline[ci], rises[ci], peak[ci]
    noise = np.exp(0.08 * rng.standard_normal(ci.size))
    on_treatment = (slot > BASELINE) & (slot < FOLLOW_UP_1)
    steady = b * np.where(on_treatment, p["lab_rise"][name], 1.0) * noise
    capped = np.where(
        normal[ci] & (steady > limit * BELOW_LIMIT), limit * rng.uniform(0.85, BELOW_LIMIT, ci.size), steady
    )
    raised = limit * ABOVE_LIMIT + (pk - limit * ABOVE_LIMIT) * rng.uniform(0.6, 1.0, ci.size)
    value = np.where(on_treatment & r, raised, capped)
    return np.where(slot == BASELINE, b, value)


def _course_rises_above_limit(rng, c, name, n) -> np.ndarray:
    """Which courses go above the limit; AST only along with ALT (the same liver response)."""
    p = PARAMETERS
    u = rng.random(n)
    if name == "ALT":
        c["alt_rises"] = u < p["new_abnormal_alt"]
        return c["alt_rises"]
    if name == "AST":
        return c["alt_rises"] & (u < p["ast_rises_with_alt"])
    return u < p[NEW_ABNORMAL[name]]


def _hcg_values(rng, c, ci, slot) -> np.ndarray:
    negative = rng.choice(4, size=ci.size, p=[0.55, 0.25, 0.15, 0.05]).astype(float)
    positive = np.round(1500 * np.exp(0.8 * rng.standard_normal(ci.size)))
    return np.where(slot == END, positive, negative)


def _unit_table():
    """Per unit code (2 x test + 1 at the SI-unit site): label, factor, decimals and limits."""
    labels, factors, decimals, lower, upper = [], [], [], [], []
    for name in LAB_TESTS:
        low_limit, high_limit = PARAMETERS["reference_limits"][name]
        for units in (CONVENTIONAL_UNITS, SI_UNITS):
            label, factor, places = units[name]
            labels.append(label)
            factors.append(factor)
            decimals.append(places)
            lower.append(np.nan if low_limit is None else round(low_limit * factor, places))
            upper.append(np.nan if high_limit is None else round(high_limit * factor, places))
    return np.array(labels, dtype=object), np.array(factors), np.array(decimals), np.array(lower), np.array(upper)


LAB_UNIT_LABELS, LAB_FACTORS, LAB_DECIMALS, LAB_LOWER, LAB_UPPER = _unit_table()


def _to_site_units(value: np.ndarray, unit_code: np.ndarray) -> None:
    """Values as each site reports them, rounded as a laboratory prints them (in place)."""
    value *= LAB_FACTORS[unit_code]
    places = LAB_DECIMALS[unit_code]
    for decimals in np.unique(LAB_DECIMALS):
        rows = np.flatnonzero(places == decimals)
        value[rows] = np.round(value[rows], decimals)
