"""Course keys: which rows belong to which courses, looked up by integer code.

A row belongs to the course with its (patient_id, course_number). `CourseKeys` holds the courses'
keys and finds each row's course for the validator (rows of unknown or excluded courses, repeated
courses), for the upload's course-level files (start dates, event times) and for the cohort
(`course_idx`): one rule for all. A missing patient matches no course; a missing course number
matches a missing one; a course number that is not whole matches none. A key repeated among the
courses answers with its first row.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def is_member(codes: np.ndarray, member: np.ndarray) -> np.ndarray:
    """For each code (int32 or int64): is it a member (`member` is a boolean array indexed by code)?
    In one indexing pass: read as unsigned, a code below 0 (unknown) or past `member` is capped to an appended False."""
    unsigned = codes.view(np.uint32 if codes.dtype.itemsize == 4 else np.uint64)
    return np.append(member, False)[np.minimum(unsigned, member.size)]


Texts = pa.Array | pa.ChunkedArray | pd.Series
Numbers = pa.Array | pa.ChunkedArray | pd.Series | np.ndarray


class CourseKeys:
    """The (patient_id, course_number) of each course row, to find the course row of other rows.

    Both parts become small integers: the patient's position among the courses' distinct patients
    and the course number's among their distinct numbers; a key is one integer made of the two. A
    table's patients are looked up once per distinct text (dictionary-encoded text and categoricals
    as they are, other text encoded first), in one hash table kept for every table looked up.
    """

    def __init__(self, patient_id: Texts, course_number: Numbers):
        codes, texts = _codes_and_texts(patient_id)
        used = pd.unique(codes[codes >= 0])  # in order of first appearance
        self.patients = pd.Index(pd.unique(texts[used]), dtype=object)
        numbers = course_numbers(course_number)
        whole = numbers[np.floor(numbers) == numbers]  # NaN and fractions left out
        self._numbers = np.unique(whole)
        self._missing_number = bool(np.isnan(numbers).any())
        self._span = len(self._numbers) + 1  # the last code: a missing number
        keys = self._keys(self._positions_of(codes, texts), numbers)
        self._first = _FirstRows(keys, len(self.patients) * self._span)

    def patient_positions(self, patient_id: Texts) -> np.ndarray:
        """Each row's patient as a position in `patients` (-1: missing, or not a patient of the courses).
        Arrow text is looked up by Arrow (its distinct texts never become Python strings), pandas text by pandas."""
        if not isinstance(patient_id, (pa.Array, pa.ChunkedArray)):
            return self._positions_of(*_codes_and_texts(patient_id))
        values = _encoded(patient_id)
        texts = values.dictionary
        if not pa.types.is_string(texts.type):
            texts = pc.cast(texts, pa.string())
        found = pc.fill_null(pc.index_in(texts, value_set=self._arrow_patients), -1)
        per_text = np.append(found.to_numpy(zero_copy_only=False).astype(np.int64), -1)
        return per_text[pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)]

    @cached_property
    def _arrow_patients(self) -> pa.Array:
        return pa.array(self.patients.to_numpy(), type=pa.string())

    def _positions_of(self, codes: np.ndarray, texts: np.ndarray) -> np.ndarray:
        per_text = np.append(self.patients.get_indexer(texts), -1)  # the last answers code -1 (missing)
        return per_text[codes]

    def positions(self, patient_id: Texts, course_number: Numbers, patients: np.ndarray | None = None) -> np.ndarray:
        """Each row's course: the first course row with its key, -1 where there is none.
        `patients`: the rows' `patient_positions`, when known already."""
        if patients is None:
            patients = self.patient_positions(patient_id)
        return self._first(self._keys(patients, course_numbers(course_number)))

    def _keys(self, patients: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        """One integer per row, -1 where the key can match no course."""
        if len(self._numbers):
            at = np.minimum(np.searchsorted(self._numbers, numbers), len(self._numbers) - 1)
            code = np.where(self._numbers[at] == numbers, at, -1)
        else:
            code = np.full(len(numbers), -1, dtype=np.int64)
        if self._missing_number:
            code[np.isnan(numbers)] = self._span - 1
        return np.where((patients >= 0) & (code >= 0), patients * self._span + code, -1)


def _codes_and_texts(values: Texts) -> tuple[np.ndarray, np.ndarray]:
    """Text as codes (-1: missing) into its distinct texts: a categorical's or a dictionary's own,
    other text encoded here; values that are not text (numbers in a hand-made table) as their text."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes, texts = values.cat.codes.to_numpy(), values.cat.categories
    else:
        if isinstance(values, pd.Series):
            try:
                values = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # text and numbers mixed
                values = pa.array(values.astype("string"), from_pandas=True)
        values = _encoded(values)
        codes = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
        texts = values.dictionary.to_pandas()
    texts = pd.Index(texts, dtype=object)
    if len(texts) and pd.api.types.infer_dtype(texts, skipna=True) != "string":
        texts = texts.astype(str)
    return codes.astype(np.int64, copy=False), texts.to_numpy()


def _encoded(values: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """Arrow values dictionary-encoded (as they are when they come so)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)


def course_numbers(values: Numbers) -> np.ndarray:
    """Course numbers as floats, missing (or not a number) as NaN."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_pandas()
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values, errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


class _FirstRows:
    """A lookup: key -> the first position of that key in `keys` (-1 when absent or the key is -1).
    Keys of a compact range (those of validated courses) are looked up by array index, others by hash."""

    def __init__(self, keys: np.ndarray, key_space: int):
        rows = np.flatnonzero(keys >= 0)
        self._space, self._index = key_space, None
        if key_space <= 4 * len(keys) + 2**20:
            first = np.full(key_space + 1, len(keys), dtype=np.int64)  # the last entry answers unknown keys
            np.minimum.at(first, keys[rows], rows)
            first[first == len(keys)] = -1
            self._first = first
            return
        index = pd.Index(keys[rows])
        if not index.is_unique:  # the first row of a repeated key answers for it
            unique = ~index.duplicated(keep="first")
            index, rows = index[unique], rows[unique]
        self._index, self._rows = index, rows

    def __call__(self, wanted: np.ndarray) -> np.ndarray:
        if self._index is None:
            return self._first[np.where(wanted >= 0, wanted, self._space)]
        found = self._index.get_indexer(wanted)  # -1 is no key of the index
        return np.where(found >= 0, self._rows[np.maximum(found, 0)], -1)
