"""Direct identifiers in an upload: found from column names and values, and kept out of the app.

The dashboard needs pseudonymous data only. Columns holding people's names, e-mail addresses,
phone numbers, street addresses, full dates of birth or national health / insurance numbers are
dropped before anything else sees them, with a message saying which column and why. When the
column meant to identify patients itself holds such values, the file is refused: the user must
replace them with codes first. Values are checked on a sample, by vectorised patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.stats.suppression import how_many

SAMPLE_SIZE = 2000
VALUE_SHARE = 0.6  # share of a column's sampled values that must look like an identifier
MIN_VALUES = 3

NAME = "people's names"
EMAIL = "e-mail addresses"
PHONE = "phone numbers"
ADDRESS = "street addresses"
BIRTH_DATE = "full dates of birth"
HEALTH_NUMBER = "national health or insurance numbers"

WHY = {
    NAME: "a name identifies a person directly",
    EMAIL: "an e-mail address identifies a person directly",
    PHONE: "a phone number identifies a person directly",
    ADDRESS: "a street address identifies a person directly",
    BIRTH_DATE: "a full date of birth identifies a person together with little else; give age in years instead",
    HEALTH_NUMBER: "a national health or insurance number identifies a person directly",
}

# Column names (normalised: lower case, words separated by single spaces).
NAME_WORDS = {
    "name",
    "names",
    "surname",
    "forename",
    "firstname",
    "lastname",
    "fullname",
    "vorname",
    "nachname",
    "nom",
    "prenom",
    "apellido",
    "nombre",
    "initials",
}
NAME_QUALIFIERS = {
    "patient",
    "first",
    "last",
    "full",
    "given",
    "family",
    "middle",
    "maiden",
    "sur",
    "fore",
    "subject",
    "participant",
    "contact",
    "mother",
    "father",
    "pt",
    "person",
    "client",
    "birth",
    "christian",
}
NOT_PEOPLE = {
    "test",
    "event",
    "site",
    "drug",
    "product",
    "file",
    "image",
    "param",
    "parameter",
    "lab",
    "visit",
    "study",
    "arm",
    "form",
    "instrument",
    "field",
    "variable",
    "column",
    "sheet",
    "centre",
    "center",
    "clinic",
    "hospital",
    "unit",
    "brand",
    "medication",
    "treatment",
    "generic",
    "sponsor",
    "investigator",
    "rater",
    "device",
    "user",
}
EMAIL_NAMES = ("email", "e mail", "mail address", "courriel")
PHONE_NAMES = (
    "phone",
    "telephone",
    "phone number",
    "mobile number",
    "mobile phone",
    "cell phone",
    "tel no",
    "tel number",
    "fax",
    "telefon",
    "telefonnummer",
    "handy",
    "contact number",
)
PHONE_ALONE = ("tel", "mobile", "cell", "phone")
ADDRESS_NAMES = ("address", "street", "addr", "adresse", "strasse", "anschrift", "home address", "street address")
BIRTH_NAMES = (
    "dob",
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "brthdtc",
    "brthdt",
    "geburtsdatum",
    "date naissance",
    "fecha nacimiento",
    "d o b",
)
HEALTH_NAMES = (
    "nhs",
    "nhs number",
    "nhs no",
    "ssn",
    "social security",
    "insurance number",
    "national id",
    "health number",
    "health card",
    "medicare",
    "medicaid",
    "chi number",
    "personnummer",
    "bsn",
    "nir",
    "ahv",
    "sozialversicherung",
    "versichertennummer",
    "krankenversicherung",
    "national insurance",
    "health insurance number",
    "ihi",
    "nhi",
    "passport",
    "driver license",
    "driving licence",
    "tax id",
)

EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
# Phone numbers: international (+44 20 7946 0958, 0049 30 123456) or national with 10-15 digits in
# groups ((555) 123-4567, 020 7946 0958, 030/1234567); decimals and bare digit runs are codes, not phones.
PHONE_PATTERN = (
    r"^((\+|00)\d[\d\s()./-]{6,20}"  # international: +44 20 7946 0958
    r"|\(\d{2,5}\)\s?\d{3,4}[\s.-]?\d{3,4}"  # (555) 123-4567
    r"|\d{3}-\d{3}-\d{4}"  # 555-123-4567
    r"|0\d{1,4}[\s/]\d{3,8}([\s-]\d{2,4})?)$"
)  # 020 7946 0958, 030/1234567
DECIMAL_PATTERN = r"^[-+]?\d*\.\d+$"
ID_WORDS = {
    "id",
    "ids",
    "usubjid",
    "subjid",
    "code",
    "number",
    "no",
    "nr",
    "record",
    "subject",
    "patient",
    "participant",
    "sample",
    "accession",
    "study",
    "site",
    "visit",
    "lot",
    "batch",
    "timestamp",
    "time",
    "date",
    "image",
}
STREET_WORDS = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|close|court|ct|place|pl|terrace|"
    r"square|sq|crescent|gardens|rue|calle|via|straße|strasse|str|weg|gasse|platz|allee|laan|straat"
)
STREET_PATTERN = (
    rf"(?i)^\s*(\d+[a-z]?,?\s+([\w'.-]+\s+){{0,4}}({STREET_WORDS})\.?\b.*"
    rf"|([\w'.-]+\s+){{0,3}}\w*({STREET_WORDS})\.?\s+\d+[a-z]?\b.*)$"
)
# Two or three capitalised words ("Jane Smith", "Mary-Ann O'Neil") or "Smith, Jane".
PERSON_PATTERN = r"^([A-Z][a-z'’-]+(\s+[A-Z][a-z'’-]+){1,2}|[A-Z][a-z'’-]+,\s*[A-Z][a-z'’-]+)$"
FULL_DATE_PATTERN = r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([T\s].*)?$"
SSN_PATTERN = r"^\d{3}-\d{2}-\d{4}$"
NHS_PATTERN = r"^\d{3}[\s-]?\d{3}[\s-]?\d{4}$"
# Words of clinical vocabularies that look like names when capitalised ("Dry Skin", "Week Eight").
CLINICAL_WORDS = {
    "dry",
    "skin",
    "lips",
    "week",
    "month",
    "day",
    "visit",
    "baseline",
    "screening",
    "end",
    "follow",
    "up",
    "placebo",
    "dose",
    "high",
    "low",
    "mild",
    "moderate",
    "severe",
    "clear",
    "almost",
    "completed",
    "other",
    "adverse",
    "event",
    "lost",
    "pain",
    "rash",
    "headache",
    "nausea",
    "treatment",
    "study",
    "site",
    "north",
    "south",
    "east",
    "west",
    "central",
    "clinic",
    "hospital",
    "unknown",
    "female",
    "male",
    "yes",
    "no",
}


@dataclass(frozen=True)
class IdentifierColumn:
    """A column found to hold direct identifiers, and the evidence."""

    column: str
    kind: str  # one of the kinds above, e.g. EMAIL
    evidence: str  # "its name", or "9 of 10 values"

    def message(self, refused: bool = False) -> str:
        outcome = (
            "the file is refused: replace these with pseudonymous codes before uploading"
            if refused
            else "the column was dropped and is not used"
        )
        return f"column {self.column} holds {self.kind} (judged from {self.evidence}); {WHY[self.kind]}: {outcome}"


def normalised(name: str) -> str:
    """Lower case, words split at punctuation and at letter-digit boundaries."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return re.sub(r"[^a-z0-9äöüßéèàç]+", " ", text.lower()).strip()


def find_identifiers(names: list[str], columns: list[pa.Array]) -> list[IdentifierColumn]:
    """The columns holding direct identifiers, judged by name first, then by values."""
    found = []
    for name, column in zip(names, columns):
        kind = kind_from_name(name)
        if kind and _has_values(column, kind):
            found.append(IdentifierColumn(name, kind, "its name"))
            continue
        found_by_values = kind_from_values(name, column)
        if found_by_values:
            found.append(IdentifierColumn(name, *found_by_values))
    return found


def kind_from_name(name: str) -> str | None:
    text = normalised(name)
    words = text.split()
    if not words:
        return None
    padded = f" {text} "
    if any(f" {w} " in padded for w in BIRTH_NAMES):
        return BIRTH_DATE
    if any(f" {w} " in padded for w in EMAIL_NAMES):
        return EMAIL
    if any(f" {w} " in padded for w in HEALTH_NAMES):
        return HEALTH_NUMBER
    if any(f" {w} " in padded for w in PHONE_NAMES) or text in PHONE_ALONE:
        return PHONE
    if any(f" {w} " in padded for w in ADDRESS_NAMES) and not {"ip", "mac", "web"} & set(words):
        return ADDRESS
    if _is_name_column(words):
        return NAME
    return None


def _is_name_column(words: list[str]) -> bool:
    if set(words) & NOT_PEOPLE:
        return False
    if any(w in NAME_WORDS - {"name", "names"} for w in words):
        return True
    if "name" in words or "names" in words:
        others = [w for w in words if w not in ("name", "names", "of", "the")]
        return not others or any(w in NAME_QUALIFIERS for w in others)
    return False


def _has_values(column: pa.Array, kind: str) -> bool:
    """A birth-date column counts only when it holds full dates (a year of birth is not identifying)."""
    sample = _sample(column)
    if len(sample) == 0:
        return False
    if kind == BIRTH_DATE:
        return _share(sample, FULL_DATE_PATTERN) >= 0.5
    return True


def kind_from_values(name: str, column: pa.Array) -> tuple[str, str] | None:
    """(kind, evidence) when most sampled values look like one kind of identifier."""
    sample = _sample(column)
    if len(sample) == 0:
        return None
    checks = ((EMAIL, EMAIL_PATTERN), (HEALTH_NUMBER, SSN_PATTERN), (ADDRESS, STREET_PATTERN))
    for kind, pattern in checks:  # unmistakable shapes: even one or two values count
        hits = _count(sample, pattern)
        if hits >= VALUE_SHARE * len(sample):
            return kind, f"{hits} of {how_many(len(sample), 'value')} checked"
    if len(sample) < MIN_VALUES:
        return None
    if not set(normalised(name).split()) & ID_WORDS:  # a study's own codes may look like numbers of any shape
        phones = _phone_hits(sample)
        if phones >= VALUE_SHARE * len(sample):
            return PHONE, f"{phones} of {how_many(len(sample), 'value')} checked"
        nhs = _nhs_hits(sample)
        if nhs >= 0.9 * len(sample) and len(sample) >= 5:
            return HEALTH_NUMBER, f"{nhs} of {len(sample)} values checked are valid NHS numbers"
    people = _person_hits(sample)
    if people >= VALUE_SHARE * len(sample) and len(sample) >= 5:
        return NAME, f"{people} of {how_many(len(sample), 'value')} checked"
    return None


def _sample(column: pa.Array) -> pa.Array:
    present = pc.drop_null(pc.utf8_trim_whitespace(column.slice(0, 5 * SAMPLE_SIZE).cast(pa.string())))
    present = present.filter(pc.not_equal(present, ""))
    return present.slice(0, SAMPLE_SIZE)


def _count(values: pa.Array, pattern: str) -> int:
    return int(pc.sum(pc.match_substring_regex(values, pattern)).as_py() or 0)


def _share(values: pa.Array, pattern: str) -> float:
    return _count(values, pattern) / len(values) if len(values) else 0.0


def _phone_hits(values: pa.Array) -> int:
    """Formatted numbers with 10-15 digits (8 or more after a country prefix); not decimals, dates or bare digit runs."""
    shaped = pc.match_substring_regex(values, PHONE_PATTERN)
    international = pc.match_substring_regex(values, r"^(\+|00)")
    formatted = pc.or_(international, pc.match_substring_regex(values, r"[\s()./-]"))
    digits = pc.utf8_length(pc.replace_substring_regex(values, r"\D", ""))
    minimum = pc.if_else(international, 8, 10)
    long_enough = pc.and_(pc.greater_equal(digits, minimum), pc.less_equal(digits, 15))
    not_number = pc.invert(
        pc.or_(pc.match_substring_regex(values, FULL_DATE_PATTERN), pc.match_substring_regex(values, DECIMAL_PATTERN))
    )
    hits = pc.and_(pc.and_(shaped, formatted), pc.and_(long_enough, not_number))
    return int(pc.sum(hits).as_py() or 0)


def _nhs_hits(values: pa.Array) -> int:
    """Ten digits passing the NHS number's modulus-11 check digit (random codes pass 1 time in 11)."""
    candidates = values.filter(pc.match_substring_regex(values, NHS_PATTERN))
    if len(candidates) == 0:
        return 0
    digits = np.array([[int(c) for c in re.sub(r"\D", "", text)] for text in candidates.to_pylist()])
    remainder = (digits[:, :9] * np.arange(10, 1, -1)).sum(axis=1) % 11
    check = (11 - remainder) % 11
    return int(((check != 10) & (check == digits[:, 9])).sum())


def _person_hits(values: pa.Array) -> int:
    shaped = values.filter(pc.match_substring_regex(values, PERSON_PATTERN))
    if len(shaped) == 0:
        return 0
    words = pc.utf8_lower(pc.replace_substring_regex(shaped, r"[,\s]+", " "))
    clinical = np.array([bool(set(text.split()) & CLINICAL_WORDS) for text in words.to_pylist()])
    distinct = len(pc.unique(shaped))
    if distinct < 0.5 * len(shaped):  # names repeat rarely; categories repeat often
        return 0
    return int((~clinical).sum())
