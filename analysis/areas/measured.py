"""The areas whose results the claims test, each named by the prefix of its settings
(`--set clearance.missing=nri`, `--set adverse_events.treatment_emergent=false`)."""

from __future__ import annotations

from analysis.areas.clearance.compute import ClearanceSettings
from analysis.areas.labs.compute import LabSettings
from analysis.areas.relapse.compute import RelapseSettings
from analysis.areas.side_effects.compute import SideEffectSettings

# Prefix -> the area's definitions; checked in this order, so the first bad setting is the one named.
AREA_SETTINGS = {
    "clearance": ClearanceSettings,
    "adverse_events": SideEffectSettings,
    "relapse": RelapseSettings,
    "labs": LabSettings,
}


def check_area_settings(settings: dict) -> None:
    """Bad definitions (e.g. clearance.missing=foo) raise ValueError here, with the area's own message."""
    for definitions in AREA_SETTINGS.values():
        definitions.from_settings(settings)


def area_default(key: str):
    """The area's own default for a setting ('clearance.missing' -> 'observed'), or None for a key of no area."""
    prefix, _, name = key.partition(".")
    definitions = AREA_SETTINGS.get(prefix)
    return None if definitions is None else getattr(definitions(), name, None)
