import numpy as np
import pytest

from pretext.permutations import all_permutations, hamming_stats, load_or_build, max_hamming_set


@pytest.mark.parametrize("size", [30, 100])
def test_set_is_distinct_and_beats_a_random_set(size: int) -> None:
    perms = max_hamming_set(size, seed=0)
    assert perms.shape == (size, 9)
    assert len({tuple(p) for p in perms}) == size
    assert all(sorted(p) == list(range(9)) for p in perms)
    pool = all_permutations()
    rng = np.random.default_rng(1)
    random_set = pool[rng.choice(len(pool), size, replace=False)]
    (min_ours, mean_ours), (min_rand, mean_rand) = hamming_stats(perms), hamming_stats(random_set)
    assert min_ours > min_rand
    assert mean_ours > mean_rand


def test_deterministic_for_a_seed_and_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CACHE_DIR", str(tmp_path))
    a = load_or_build(30, seed=5)
    assert (tmp_path / "permutations" / "hamming9_n30_seed5.npy").is_file()
    assert np.array_equal(a, load_or_build(30, seed=5))
    assert np.array_equal(a, max_hamming_set(30, seed=5))
    assert not np.array_equal(a, max_hamming_set(30, seed=6))


def test_size_out_of_range() -> None:
    with pytest.raises(ValueError, match="size must be in"):
        max_hamming_set(0)
