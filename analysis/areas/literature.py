"""Published reference figures (data/literature.toml), shown beside the data's estimates."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from analysis import DATA_DIR

LITERATURE_FILE = DATA_DIR / "literature.toml"


@dataclass(frozen=True)
class Reference:
    key: str
    value: float
    label: str
    population: str
    source: str
    unit: str = "share"
    band: str = ""
    second_hand: bool = False
    short: str = ""  # the figure in a few words where the bare number would mislead (a change, not a share)

    def describe(self) -> str:
        shown = (
            f"'{self.band}'"
            if self.unit == "band"
            else f"{self.value:.1%}"
            if self.unit == "share"
            else f"{self.value:g} {self.unit}"
        )
        caveat = " (seen second-hand)" if self.second_hand else ""
        return f"{self.label}: {shown}, {self.source}{caveat}"


@cache
def references() -> dict[str, Reference]:
    with LITERATURE_FILE.open("rb") as handle:
        raw = tomllib.load(handle)
    return {key: Reference(key=key, **entry) for key, entry in raw.items()}


def reference(key: str) -> Reference:
    return references()[key]
