"""A PyTorch-ready iterable dataset over a fleet of recordings: :class:`FleetDataset`.

    from torch.utils.data import DataLoader, default_convert
    from hidpack.dataset import FleetDataset, keep_numpy

    ds = FleetDataset("fleet/", kinds=["move", "button", "key"], shuffle=True, seed=7)
    loader = DataLoader(ds, batch_size=None, num_workers=4, collate_fn=keep_numpy)
    for epoch in range(10):
        ds.set_epoch(epoch)
        for sample in loader:             # one dict per file (or per window): see hidpack.samples
            sample = default_convert(sample)   # tensors, no copy (torch.utils.data.default_convert)
            sample["move"]["x"]           # a float64 tensor, file order

**Sharding is by file.** Every process that iterates (each DataLoader worker of each rank) takes
its own shard of the files: shard ``rank * num_workers + worker_id`` of ``world_size *
num_workers``, the files at positions ``shard, shard + shards, ...`` of the epoch's order (the
paths as given, or with ``shuffle=True`` a permutation drawn from ``(seed, epoch)``). So in one
epoch every file is read by exactly one process, exactly once, and the order is the same on every
run with the same seed and epoch. ``rank`` and ``world_size`` come from ``torch.distributed``
when it is initialised (else 0 and 1) unless given; the worker's place from
``torch.utils.data.get_worker_info()`` (none: the only worker).

Things to know:

* Shards differ in size by up to one file, and files differ in samples (windows) and events:
  under DistributedDataParallel ranks can get unequal step counts; wrap the loop in
  ``torch.distributed.algorithms.join.Join`` or cut each rank's loop at an agreed step count
  (dropping samples is then the caller's explicit choice, never this dataset's).
* ``set_epoch(n)`` must be called before the epoch's iterator is made; with
  ``persistent_workers=True`` the workers keep the epoch they started with.
* Samples are ragged (one file, or one window, of events), so use ``batch_size=None`` or a
  ``collate_fn`` that pads or packs them.
* Pass ``collate_fn=keep_numpy`` with workers: the default conversion makes every array a tensor
  *in the worker*, and each tensor then crosses to the main process through its own shared
  memory segment (about 1-2 ms each; a sample of all nine kinds holds some 50 arrays), which on
  short files is ten times slower than pickling the numpy arrays through the worker's pipe.
  ``torch.utils.data.default_convert(sample)`` in the main process then makes tensors of them
  without a copy.
* Each file is read on ``threads`` threads (default 1: DataLoader workers are the parallelism).
* Nothing is dropped silently: with ``errors="raise"`` (the default) a file that cannot be opened
  raises its error (a :class:`hidpack.FormatError` led by its path, or an ``OSError``), a block
  that cannot be read a :class:`hidpack.CorruptBlockError` led by the path, header metadata
  that is not a JSON object a :class:`hidpack.MetadataError`, before any sample of that file is
  passed on; with ``errors="skip"`` its readable events are used, a file that cannot be opened
  is passed over, and each problem is a ``RuntimeWarning`` naming the file
  (:func:`hidpack.samples.file_samples`).

torch is optional: with it installed, :class:`FleetDataset` is a
``torch.utils.data.IterableDataset``; without it, a plain iterable with the same behaviour (one
process, one worker, rank 0 of 1 unless given).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .fleet import expand_paths
from .samples import file_samples, sample_maker

try:  # a subclass when torch is there: DataLoader treats it as an iterable-style dataset
    from torch.utils.data import IterableDataset as _Base
except ImportError:  # pragma: no cover - torch is in the test extra
    _Base = object  # type: ignore[misc,assignment]

__all__ = ["FleetDataset", "shard_files", "keep_numpy"]


def keep_numpy(sample: Any) -> Any:
    """A DataLoader ``collate_fn`` (with ``batch_size=None``) that passes a sample on as it is:
    numpy arrays, pickled through the worker's pipe (see the module doc for why)."""
    return sample


def shard_files(n: int, shard: int, shards: int, *, epoch: int = 0, shuffle: bool = False, seed: int = 0) -> List[int]:
    """The indices (into the fleet's ``n`` files) that shard ``shard`` of ``shards`` reads in
    ``epoch``: every ``shards``-th file of the epoch's order, from position ``shard``. The
    shards of one epoch partition ``range(n)``."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return [int(i) for i in order[shard::shards]]


def _count(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def _distributed() -> Tuple[int, int]:
    """(rank, world size) of an initialised ``torch.distributed`` group, else (0, 1)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is in the test extra
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _worker() -> Tuple[int, int]:
    """(worker id, number of workers) of the DataLoader worker this runs in, else (0, 1)."""
    try:
        from torch.utils.data import get_worker_info
    except ImportError:  # pragma: no cover - torch is in the test extra
        return 0, 1
    info = get_worker_info()
    return (0, 1) if info is None else (int(info.id), int(info.num_workers))


class FleetDataset(_Base):  # type: ignore[misc,valid-type]
    """The samples of every file of a fleet, sharded by file across DataLoader workers and
    distributed ranks (see the module doc).

    ``paths``: files, a directory (its ``*.hpk``, sorted) or a glob pattern, as
    :func:`hidpack.read_many` takes them. ``sample``: a name in :data:`hidpack.samples.SAMPLES`
    (``"episode"``, built with ``kinds`` and ``window`` seconds; ``"bins"``, fixed-rate actions
    at ``fps``) or a callable
    ``(recording, file) -> iterable of samples``. ``shuffle``/``seed``: the file order of an
    epoch (:meth:`set_epoch`). ``rank``/``world_size``: override ``torch.distributed``'s.
    ``threads``: threads that decode one file. ``errors``: ``"raise"`` or ``"skip"``.
    """

    def __init__(
        self,
        paths: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]],
        sample: Any = "episode",
        *,
        kinds: Optional[Union[Sequence[str], str]] = None,
        window: Optional[float] = None,
        fps: Any = None,
        shuffle: bool = False,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        threads: int = 1,
        errors: str = "raise",
    ) -> None:
        options = {k: v for k, v in (("kinds", kinds), ("window", window), ("fps", fps)) if v is not None}
        self.sample = sample_maker(sample, **options)
        self.paths: List[str] = expand_paths(paths)
        self.shuffle = bool(shuffle)
        self.seed = _count("seed", seed, 0)
        self.rank = None if rank is None else _count("rank", rank, 0)
        self.world_size = None if world_size is None else _count("world_size", world_size, 1)
        if self.rank is not None and self.world_size is not None and self.rank >= self.world_size:
            raise ValueError(f"rank {self.rank} is not below world_size {self.world_size}")
        self.threads = _count("threads", threads, 1)
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
        self.errors = errors
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iterator reads: with ``shuffle=True`` it picks the file order."""
        self.epoch = _count("epoch", epoch, 0)

    def rank_and_world(self) -> Tuple[int, int]:
        """(rank, world size): the ones given, else ``torch.distributed``'s, else (0, 1)."""
        rank, world = _distributed()
        rank = rank if self.rank is None else self.rank
        world = world if self.world_size is None else self.world_size
        if not rank < world:
            given = "given" if self.world_size is not None else "torch.distributed's"
            raise ValueError(f"rank {rank} is not below world_size {world} ({given})")
        return rank, world

    def files(self) -> List[int]:
        """The indices into :attr:`paths` that this process reads this epoch, in order."""
        rank, world = self.rank_and_world()
        worker, workers = _worker()
        return shard_files(
            len(self.paths), rank * workers + worker, world * workers,
            epoch=self.epoch, shuffle=self.shuffle, seed=self.seed,
        )

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for i in self.files():
            yield from file_samples(self.sample, self.paths[i], i, threads=self.threads, errors=self.errors)

    def __repr__(self) -> str:
        order = f"shuffle=True, seed={self.seed}" if self.shuffle else "shuffle=False"
        return f"<FleetDataset: {len(self.paths):,} file(s), sample={self.sample!r}, {order}, epoch {self.epoch}>"

