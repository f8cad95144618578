"""``counting.bincount``: the counts of ``np.bincount``, for codes of every integer type, a block at a time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookembed import counting


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.uint32, np.int64, np.intp])
@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(-1, 100), max_size=300), minlength=st.integers(0, 150), block=st.integers(1, 64))
def test_the_counts_are_numpys_whatever_the_type_and_the_block(dtype, values, minlength, block):
    if np.iinfo(dtype).min == 0:
        values = [v + 1 for v in values]
        shift = 0
    else:
        shift = 1
    codes = np.array(values, dtype=dtype)
    expected = np.bincount(np.array(values, dtype=np.int64) + shift, minlength=minlength)
    original = counting.BLOCK
    counting.BLOCK = block
    try:
        got = counting.bincount(codes, minlength, shift=shift)
    finally:
        counting.BLOCK = original
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()
    assert codes.tolist() == np.array(values, dtype=dtype).tolist()  # the caller's codes are left alone


def test_weights_empty_codes_and_negative_codes_are_numpys():
    codes = np.array([0, 2, 2, 5], dtype=np.int32)
    assert counting.bincount(codes, 7, weights=[1.0, 0.5, 0.25, 2.0]).tolist() == [1.0, 0, 0.75, 0, 0, 2.0, 0]
    assert counting.bincount(codes - 1, 7, shift=1, weights=[1.0, 0.5, 0.25, 2.0]).tolist() == \
        [1.0, 0, 0.75, 0, 0, 2.0, 0]  # codes from -1, weighted
    for dtype in (np.int8, np.intp):
        assert counting.bincount(np.array([], dtype=dtype)).tolist() == np.bincount(np.array([], np.intp)).tolist() == []
    with pytest.raises(ValueError):
        counting.bincount(np.array([-1, 0], dtype=np.int32))
