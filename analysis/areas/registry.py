"""Every outcome area, declared once each, in the order the report and the JSON summary follow.

The course timeline is not here: it shows one patient's record, which no summary or shared report
holds (analysis.areas.timeline.compute.INCLUDE_IN_REPORTS).
"""

from analysis.areas.claims.declaration import AREA as CLAIMS
from analysis.areas.clearance.declaration import AREA as CLEARANCE
from analysis.areas.labs.declaration import AREA as LABS
from analysis.areas.overview.declaration import AREA as OVERVIEW
from analysis.areas.relapse.declaration import AREA as RELAPSE
from analysis.areas.side_effects.declaration import AREA as SIDE_EFFECTS

AREAS = (CLAIMS, CLEARANCE, SIDE_EFFECTS, RELAPSE, LABS, OVERVIEW)
