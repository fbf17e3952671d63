"""deepens.seeds.derive_seed: deterministic, independent per purpose / key / run seed."""
import itertools

import pytest
from deepens import seeds
from deepens.seeds import derive_seed


def test_deterministic_and_python_int():
    for purpose in seeds.PURPOSES:
        a, b = derive_seed(3, purpose, 1, 2), derive_seed(3, purpose, 1, 2)
        assert a == b
        assert type(a) is int


def test_range():
    values = [derive_seed(s, p, *k) for s in (0, 1, 2**31 - 1, 2**40)
              for p in seeds.PURPOSES for k in ((), (0,), (5, 7))]
    assert all(0 <= v < 2**31 for v in values)


def test_differs_across_purposes():
    for run_seed in (0, 1, 42):
        values = [derive_seed(run_seed, p) for p in seeds.PURPOSES]
        assert len(set(values)) == len(seeds.PURPOSES)


def test_differs_across_run_seeds():
    values = [derive_seed(s, "init") for s in range(200)]
    assert len(set(values)) == 200


def test_differs_across_keys():
    values = {k: derive_seed(0, "dropout", *k) for k in
              [(), (1,), (2,), (1, 2), (2, 1), (1, 1), (3, 5, 7)]
              + [(i, e) for i, e in itertools.product(range(3), range(1, 4))]}
    assert len(set(values.values())) == len(values)


def test_unknown_purpose():
    with pytest.raises(ValueError, match="banana"):
        derive_seed(0, "banana")


def test_known_values_are_stable():
    # Pinned: runs must reproduce across versions, and the value depends only on the purpose's name.
    assert derive_seed(7, "dropout") == 1268143962
    assert derive_seed(0, "init") == 1776390166


def test_adding_a_purpose_does_not_shift_others(monkeypatch):
    before = {p: derive_seed(5, p, 2) for p in seeds.PURPOSES}
    monkeypatch.setattr(seeds, "PURPOSES", ("aaa_new",) + tuple(reversed(seeds.PURPOSES)))
    assert {p: derive_seed(5, p, 2) for p in before} == before
    assert derive_seed(5, "aaa_new", 2) not in before.values()


def test_trailing_zero_key_is_a_distinct_stream():
    assert derive_seed(7, "dropout", 1, 0) != derive_seed(7, "dropout", 1)
    assert derive_seed(7, "dropout", 0) != derive_seed(7, "dropout")
