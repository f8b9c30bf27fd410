import pytest

from trainjob.sampling import ShardedSampler


def shards(size, world, **options):
    samplers = [ShardedSampler(size, rank, world, seed=5, **options) for rank in range(world)]
    for sampler in samplers:
        sampler.set_epoch(3)
    return samplers, [list(sampler) for sampler in samplers]


def test_training_shards_are_equal_and_cover_every_index():
    samplers, parts = shards(10, 3, shuffle=True, pad=True)
    assert [len(part) for part in parts] == [4, 4, 4] == [len(s) for s in samplers]
    assert set().union(*parts) == set(range(10))


def test_batches_of_all_ranks_together_are_the_single_process_batches():
    _, (whole,) = shards(12, 1, shuffle=True, pad=True)
    _, parts = shards(12, 2, shuffle=True, pad=True)
    interleaved = [index for pair in zip(*parts, strict=True) for index in pair]
    assert interleaved == whole


def test_evaluation_shards_are_not_padded():
    samplers, parts = shards(10, 3, shuffle=False, pad=False)
    assert sorted(index for part in parts for index in part) == list(range(10))
    assert [len(s) for s in samplers] == [4, 3, 3]


def test_order_changes_with_the_epoch_and_is_reproducible():
    sampler = ShardedSampler(50, 0, 1, shuffle=True, seed=1, pad=True)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_skip_resumes_mid_epoch_and_set_epoch_clears_it():
    sampler = ShardedSampler(20, 1, 2, shuffle=True, seed=0, pad=True)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.skip(4)
    assert list(sampler) == full[4:] and len(sampler) == 6
    sampler.set_epoch(2)
    assert list(sampler) == full


def test_tiny_dataset_is_padded_for_a_large_world():
    _, parts = shards(2, 4, shuffle=False, pad=True)
    assert all(len(part) == 1 for part in parts)


def test_empty_dataset_is_refused():
    with pytest.raises(ValueError, match="empty"):
        ShardedSampler(0, 0, 1, shuffle=True, seed=0, pad=True)
