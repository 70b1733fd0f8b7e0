"""Claim sets: the claims of one source, each read one or more ways, as TOML (data/claims.toml is one).

A claim is a verbatim quote with one or more readings; each reading is a full specification (what
is measured, from the catalogue of measured quantities, the threshold and direction). The claim's
own fields are its first reading; `[[claim.reading]]` tables add others, each changing only the
fields it names. A malformed file raises `ClaimSetError` naming the claim and the field, so the app
and the command line say what to fix instead of failing.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

DIRECTIONS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "described": ""}
LIST_FIELDS = ("fragments", "literature", "applies", "sensitivity")
TABLE_FIELDS = ("defaults", "params")
# Fields a reading may change; the others belong to the claim (its quote, where it stands, its source).
READING_FIELDS = (
    "reads_as",
    "label",
    "quantity",
    "says",
    "threshold",
    "direction",
    "min_n",
    "rare_event",
    "literature",
    "compare",
    "applies",
    "defaults",
    "sensitivity",
    "page",
    "measure",
    "params",
)
CLAIM_FIELDS = ("id", "quote", "fragments", "section", "source", "link", "reading", *READING_FIELDS)
SET_FIELDS = ("title", "source", "link", "claim")
READING_LETTERS = "abcdefghij"


class ClaimSetError(ValueError):
    """A claim file that cannot be used; the message names the claim and the field."""


@dataclass(frozen=True)
class ClaimSpec:
    """One reading of one claim (field meanings are documented at the top of data/claims.toml).

    The first reading carries the claim's id and holds the others in `readings`; further readings
    have the claim's id followed by their letter (C01b)."""

    id: str
    quote: str
    measure: str
    direction: str
    section: str = ""
    label: str = ""
    quantity: str = ""
    says: str = ""
    page: str = ""  # empty: the page of the claim's quantity
    min_n: int = 20
    threshold: float | None = None
    fragments: tuple[str, ...] = ()
    rare_event: bool = False
    literature: tuple[str, ...] = ()
    compare: str | None = None
    applies: tuple[str, ...] = ()
    defaults: tuple[tuple[str, object], ...] = ()
    sensitivity: tuple[str, ...] = ()
    params: tuple[tuple[str, object], ...] = ()
    reads_as: str = ""
    reading: str = "a"
    claim_id: str = ""
    source: str = ""
    link: str = ""
    readings: tuple[ClaimSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"claim {self.id}: direction must be one of {', '.join(DIRECTIONS)}, not {self.direction!r}"
            )
        if (self.threshold is None) != (self.direction == "described"):
            raise ValueError(f"claim {self.id}: a threshold goes with a direction other than 'described'")
        if not self.claim_id:
            object.__setattr__(self, "claim_id", self.id)

    @property
    def tested(self) -> bool:
        return self.direction != "described"

    @property
    def all_readings(self) -> tuple[ClaimSpec, ...]:
        return (self, *self.readings)

    @property
    def param_dict(self) -> dict:
        return dict(self.params)


@dataclass(frozen=True)
class ClaimSet:
    """The claims of one source, in file order."""

    title: str
    claims: tuple[ClaimSpec, ...]
    source: str = ""
    link: str = ""
    name: str = field(default="", compare=False)  # the file it came from, for messages

    def by_id(self) -> dict[str, ClaimSpec]:
        """Every claim by id (its first reading)."""
        return {spec.id: spec for spec in self.claims}

    def reading_specs(self) -> dict[str, ClaimSpec]:
        """Every reading of every claim by its id (C01, C01b, C02, ...)."""
        return {reading.id: reading for spec in self.claims for reading in spec.all_readings}

    def to_toml(self) -> str:
        return claim_set_toml(self)


# ---------------------------------------------------------------------------------------------
# Reading a claim file


@dataclass(frozen=True)
class Checks:
    """What the file's names are checked against: the catalogue's quantities and their parameters,
    the literature keys, and a check of area settings (raises ValueError with the area's message)."""

    measures: Mapping[str, Callable[[dict], dict]]  # measure -> checks its params, returns them typed
    literature: frozenset[str] = frozenset()
    settings: Callable[[dict], None] = lambda settings: None
    sensitivity: frozenset[str] = frozenset()


def read_claim_set(source: str | bytes | Path, checks: Checks, name: str = "") -> ClaimSet:
    """A claim set from TOML text, bytes or a file; ClaimSetError for anything that cannot be used."""
    if isinstance(source, Path):
        name = name or source.name
        try:
            source = source.read_bytes()
        except OSError as error:
            raise ClaimSetError(f"Claim file {name}: cannot be read ({error.strerror or error}).") from None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ClaimSetError(f"Claim file {name or '(upload)'}: is not UTF-8 text.") from None
    name = name or "(upload)"
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise ClaimSetError(f"Claim file {name}: is not valid TOML ({error}).") from None
    return parse_claim_set(raw, checks, name)


def parse_claim_set(raw: dict, checks: Checks, name: str) -> ClaimSet:
    unknown = sorted(set(raw) - set(SET_FIELDS))
    if unknown:
        raise ClaimSetError(
            f"Claim file {name}: unknown top-level field '{unknown[0]}' (known: {', '.join(SET_FIELDS)})."
        )
    entries = raw.get("claim")
    if not isinstance(entries, list) or not entries:
        raise ClaimSetError(f"Claim file {name}: holds no claims (each claim is a [[claim]] table).")
    title = _text(raw.get("title", ""), f"Claim file {name}", "title")
    claims, seen = [], set()
    for index, entry in enumerate(entries, start=1):
        where = f"Claim file {name}: claim {index}" + (
            f" ({entry['id']})" if isinstance(entry, dict) and "id" in entry else ""
        )
        spec = parse_claim(entry, checks, where)
        for reading in spec.all_readings:
            if reading.id in seen:
                raise ClaimSetError(f"{where}, field 'id': {reading.id} is used twice.")
            seen.add(reading.id)
        claims.append(spec)
    return ClaimSet(
        title=title or name,
        claims=tuple(claims),
        source=_text(raw.get("source", ""), f"Claim file {name}", "source"),
        link=_text(raw.get("link", ""), f"Claim file {name}", "link"),
        name=name,
    )


def parse_claim(entry, checks: Checks, where: str) -> ClaimSpec:
    if not isinstance(entry, dict):
        raise ClaimSetError(f"{where}: must be a table of fields.")
    unknown = sorted(set(entry) - set(CLAIM_FIELDS))
    if unknown:
        raise ClaimSetError(f"{where}, field '{unknown[0]}': unknown field (known: {', '.join(CLAIM_FIELDS)}).")
    for required in ("id", "quote", "measure"):
        if not entry.get(required):
            raise ClaimSetError(f"{where}, field '{required}': missing.")
    claim_id = _text(entry["id"], where, "id")
    if not claim_id.replace("_", "").replace("-", "").isalnum():
        raise ClaimSetError(f"{where}, field 'id': use letters, digits, '-' or '_' only (got {claim_id!r}).")
    values = {key: _field(key, value, where) for key, value in entry.items() if key != "reading"}
    values.setdefault("label", claim_id)
    first = _reading(values, checks, where)
    extra = entry.get("reading", [])
    if not isinstance(extra, list):
        raise ClaimSetError(f"{where}, field 'reading': must be a list of [[claim.reading]] tables.")
    readings = []
    for number, change in enumerate(extra, start=2):
        letter = READING_LETTERS[number - 1] if number <= len(READING_LETTERS) else str(number)
        place = f"{where}, reading {letter}"
        if not isinstance(change, dict):
            raise ClaimSetError(f"{place}: must be a table of fields.")
        unknown = sorted(set(change) - set(READING_FIELDS))
        if unknown:
            raise ClaimSetError(f"{place}, field '{unknown[0]}': not a field a reading can change.")
        changed = {key: _field(key, value, place) for key, value in change.items()}
        if "direction" in changed and changed["direction"] == "described":
            changed.setdefault("threshold", None)
        merged = {**values, **changed, "id": f"{claim_id}{letter}", "reading": letter, "claim_id": claim_id}
        if "literature" in changed and "compare" not in changed and merged.get("compare") not in changed["literature"]:
            merged.pop("compare", None)  # the first reading's published figure measures another quantity
        readings.append(_reading(merged, checks, place))
    return replace(first, readings=tuple(readings))


def _reading(values: dict, checks: Checks, where: str) -> ClaimSpec:
    measure = values.get("measure")
    if measure not in checks.measures:
        known = ", ".join(sorted(checks.measures))
        raise ClaimSetError(f"{where}, field 'measure': unknown quantity {measure!r} (the catalogue has: {known}).")
    try:
        params = checks.measures[measure](dict(values.get("params", ())))
    except (TypeError, ValueError) as error:
        raise ClaimSetError(f"{where}, field 'params': {error}") from None
    direction = values.get("direction", "described")
    if direction not in DIRECTIONS:
        raise ClaimSetError(f"{where}, field 'direction': must be one of {', '.join(DIRECTIONS)} (got {direction!r}).")
    threshold = values.get("threshold")
    if direction == "described":
        threshold = None
    elif threshold is None:
        raise ClaimSetError(f"{where}, field 'threshold': missing (a share from 0 to 1 for direction {direction!r}).")
    unknown_literature = [key for key in values.get("literature", ()) if key not in checks.literature]
    if unknown_literature and checks.literature:
        raise ClaimSetError(f"{where}, field 'literature': unknown reference {unknown_literature[0]!r}.")
    compare = values.get("compare")
    if compare is not None and compare not in values.get("literature", ()):
        raise ClaimSetError(f"{where}, field 'compare': {compare!r} is not one of the claim's literature keys.")
    bad = [key for key in values.get("sensitivity", ()) if checks.sensitivity and key not in checks.sensitivity]
    if bad:
        raise ClaimSetError(f"{where}, field 'sensitivity': no alternatives are known for {bad[0]!r}.")
    try:
        checks.settings(dict(values.get("defaults", ())))
    except ValueError as error:
        raise ClaimSetError(f"{where}, field 'defaults': {error}") from None
    known = {f.name for f in fields(ClaimSpec)} - {"readings"}
    chosen = {key: value for key, value in values.items() if key in known}
    chosen.update(direction=direction, threshold=threshold, params=tuple(params.items()))
    return ClaimSpec(**chosen)


def _field(key: str, value, where: str):
    """One field of a claim or reading, typed and checked."""
    if key in LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ClaimSetError(f"{where}, field '{key}': must be a list of text.")
        return tuple(value)
    if key in TABLE_FIELDS:
        if not isinstance(value, dict):
            raise ClaimSetError(f"{where}, field '{key}': must be a table, e.g. {{ month = 6 }}.")
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in value.items())
    if key == "threshold":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ClaimSetError(f"{where}, field 'threshold': must be a share from 0 to 1 (got {value!r}).")
        return float(value)
    if key == "min_n":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ClaimSetError(f"{where}, field 'min_n': must be a whole number of at least 1 (got {value!r}).")
        return value
    if key == "rare_event":
        if not isinstance(value, bool):
            raise ClaimSetError(f"{where}, field 'rare_event': must be true or false (got {value!r}).")
        return value
    return _text(value, where, key)


def _text(value, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ClaimSetError(f"{where}, field '{key}': must be text (got {value!r}).")
    return value


# ---------------------------------------------------------------------------------------------
# Writing a claim file (the schema is flat, so a small writer suffices: no TOML writer is installed)


def claim_set_toml(claim_set: ClaimSet) -> str:
    lines = [f"{key} = {toml_value(value)}" for key, value in _set_header(claim_set)]
    for spec in claim_set.claims:
        lines += ["", "[[claim]]", *_fields_toml(_claim_fields(spec))]
        for reading in spec.readings:
            lines += ["", "[[claim.reading]]", *_fields_toml(_changed_fields(spec, reading))]
    return "\n".join(lines) + "\n"


def _set_header(claim_set: ClaimSet) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, value in (("title", claim_set.title), ("source", claim_set.source), ("link", claim_set.link))
        if value
    ]


def _claim_fields(spec: ClaimSpec) -> dict:
    values = {}
    for key in CLAIM_FIELDS:
        if key == "reading" or not hasattr(spec, key):
            continue
        value = getattr(spec, key)
        default = _default(key)
        if value == default and key not in ("id", "quote", "measure", "direction"):
            continue
        values[key] = value
    return values


def _changed_fields(first: ClaimSpec, reading: ClaimSpec) -> dict:
    return {key: getattr(reading, key) for key in READING_FIELDS if getattr(reading, key) != getattr(first, key)}


def _default(key: str):
    spec_field = next(f for f in fields(ClaimSpec) if f.name == key)
    return spec_field.default


def _fields_toml(values: dict) -> list[str]:
    lines = []
    for key, value in values.items():
        if value is None:  # no threshold ("described"), or no published figure to compare
            continue
        if key in TABLE_FIELDS:
            value = dict(value)
        lines.append(f"{key} = {toml_value(value)}")
    return lines


def toml_value(value) -> str:
    """A TOML value: text, a number, true/false, a list or an inline table of these."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be written to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"{value!r} cannot be written to TOML")
