"""Course keys: which rows belong to which courses, looked up by integer code."""

from __future__ import annotations

import numpy as np


def is_member(codes: np.ndarray, member: np.ndarray) -> np.ndarray:
    """For each code (int32 or int64): is it a member (`member` is a boolean array indexed by code)?
    In one indexing pass: read as unsigned, a code below 0 (unknown) or past `member` is capped to an appended False."""
    unsigned = codes.view(np.uint32 if codes.dtype.itemsize == 4 else np.uint64)
    return np.append(member, False)[np.minimum(unsigned, member.size)]
