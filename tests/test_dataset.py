"""hidpack.dataset.FleetDataset (PyTorch) and ``hidpack export --to hf`` (Hugging Face datasets):
every file of a fleet read exactly once per epoch across real DataLoader worker processes and
ranks, samples equal to hidpack's own read event for event, a reproducible order per epoch, and
a saved dataset that ``datasets.load_from_disk`` reads back exactly."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import warnings
from collections import Counter

import numpy as np
import pytest

import hidpack
from hidpack.dataset import FleetDataset, keep_numpy, shard_files
from hidpack.samples import SAMPLES, Episodes, kind_columns

from shared_data import balabit_sessions
from test_cli import run, run_on_tty

try:  # test dependencies: a missing one fails here, never skips
    import datasets
    import torch
    from torch.utils.data import DataLoader, default_convert
except ImportError as e:
    raise ImportError(f"{e}: tests/test_dataset.py needs torch and datasets: pip install -e '.[test]'") from e


# -- fleets ---------------------------------------------------------------------------------------


def write_session(path, i: int, events: int = 40, seed: int = 0) -> None:
    """A small session with every kind and every optional field both present and absent; file
    ``i`` is marked by a ``marker`` whose value is ``i`` and by its metadata."""
    rng = np.random.default_rng([seed, i])
    kinds = ["move", "raw_move", "button", "scroll", "key", "text", "focus", "gap"]
    kind = [kinds[k] for k in rng.integers(0, len(kinds), events)] + ["marker"]
    n = len(kind)
    t = np.sort(rng.integers(0, 3_000_000_000, n))  # about 3 s
    t[-1] = t[-2] + 1 + i * 1_000_000_000  # the marker: files of different lengths
    half = rng.random(n) < 0.5  # where optional fields are present

    def col(kinds_using, make, optional=True):
        return [make(j) if kind[j] in kinds_using and (not optional or half[j]) else None for j in range(n)]

    table = {
        "t": t,
        "kind": kind,
        "x": [float(j) + 0.25 if kind[j] == "move" or (kind[j] in ("button", "scroll") and half[j]) else None for j in range(n)],
        "dx": col(("raw_move", "scroll"), lambda j: float(j % 7) - 3.5, optional=False),
        "buttons": col(("move",), lambda j: j % 4),
        "button": col(("button",), lambda j: 1 + j % 5, optional=False),
        "pressed": col(("button", "key"), lambda j: bool(j % 2), optional=False),
        "usage": col(("key",), lambda j: 4 + j % 30),
        "native": col(("key",), lambda j: 1000 + j),
        "text": col(("text",), lambda j: "é%d→" % j, optional=False),
        "app": col(("focus",), lambda j: "app%d" % j),
        "title": col(("focus",), lambda j: "title ✓ %d" % j),
        "window": col(("focus",), lambda j: 77 + j),
        "left": col(("focus",), lambda j: -j),
        "label": ["file"] * (n - 1) + ["file"],
        "value": [None] * (n - 1) + [i],
        "count": col(("gap",), lambda j: j + 1, optional=False),
        "reason": col(("gap",), lambda j: j % 4, optional=False),
        "t_end": col(("gap",), lambda j: int(t[j]) + 5),
    }
    table["label"] = [lab if kind[j] == "marker" else None for j, lab in enumerate(table["label"])]
    table["y"] = [None if v is None else -v for v in table["x"]]
    table["dy"] = [None if v is None else v * 2 for v in table["dx"]]
    table["top"], table["right"], table["bottom"] = table["left"], table["window"], table["left"]
    hidpack.write_table(path, table, metadata={"session": f"s{i}", "i": i}, block_events=16,
                        wall_clock_ns=1_700_000_000_000_000_000 + i if i % 3 else None)


def make_fleet(tmp_path, n: int = 11, name: str = "fleet") -> list[str]:
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        write_session(d / f"s{i:02d}.hpk", i)
    return sorted(str(p) for p in d.glob("*.hpk"))


def assert_kind_matches(cols: dict, rec_view, kind: str) -> None:
    """One kind's sample columns equal hidpack's own read of ``rec_view`` (values where present,
    presence, strings, order)."""
    want = rec_view.columns(kind)
    names = [name for name, _ in kind_columns(kind)]
    assert sorted(cols) == sorted(names), kind
    n = len(want)
    for name in names:
        assert len(cols[name]) == n, (kind, name)
    assert np.array_equal(np.asarray(cols["t"]), want.t), kind
    for name, typ in kind_columns(kind):
        if name == "t" or name.endswith("_valid"):
            continue
        w = want[name]
        got = np.asarray(cols[name], dtype=object if typ == "str" else None)
        if typ == "str":
            assert got.tolist() == list(w), (kind, name)
        elif isinstance(w, np.ma.MaskedArray):
            valid = ~np.ma.getmaskarray(w)
            assert np.array_equal(np.asarray(cols[name + "_valid"], dtype=bool), valid), (kind, name)
            assert np.array_equal(got[valid], np.asarray(w)[valid]), (kind, name)
        else:
            assert np.array_equal(got, np.asarray(w)), (kind, name)


def assert_sample_matches(sample: dict, path: str, t0=None, t1=None) -> None:
    rec = hidpack.open(path)
    view = rec.between(t0, t1)
    assert sample["path"] == path
    for kind in hidpack.KINDS:
        assert_kind_matches(sample[kind], view, kind)


def file_of(sample) -> int:
    """The fleet index a sample says it is from, checked against the marker written into the file."""
    value = sample["marker"]["value"]
    assert [int(v) for v in value] == [int(sample["file"])]
    return int(sample["file"])


# -- samples --------------------------------------------------------------------------------------


def test_an_episode_is_its_file_event_for_event(tmp_path):
    paths = make_fleet(tmp_path, 4)
    samples = list(FleetDataset(paths))
    assert [s["file"] for s in samples] == [0, 1, 2, 3]
    for i, s in enumerate(samples):
        assert_sample_matches(s, paths[i])
        assert s["metadata"] == {"session": f"s{i}", "i": i}
        assert s["wall_clock_ns"] == (None if i % 3 == 0 else 1_700_000_000_000_000_000 + i)
        assert sum(len(s[k]["t"]) for k in hidpack.KINDS) == len(hidpack.open(paths[i]))
        assert s["move"]["x"].dtype == np.float64 and s["key"]["usage_valid"].dtype == bool
    # every kind is there, empty where a file has none, so samples share their keys
    only = FleetDataset(paths, kinds=["key", "move"])
    s = next(iter(only))
    assert [k for k in s if k in hidpack.KINDS] == ["key", "move"]
    assert_kind_matches(s["key"], hidpack.open(paths[0]), "key")


def test_windows_cut_episodes_into_fixed_spans_that_add_up_to_them(tmp_path):
    paths = make_fleet(tmp_path, 3)
    ds = FleetDataset(paths, window=0.5)
    by_file: dict = {}
    for s in ds:
        by_file.setdefault(s["file"], []).append(s)
    for i, windows in by_file.items():
        rec = hidpack.open(paths[i])
        t = rec.table(columns=[])["t"]
        first, last = int(t.min()) // 500_000_000, int(t.max()) // 500_000_000
        assert [w["window"] for w in windows] == list(range(last - first + 1))  # empty ones included
        for w in windows:
            assert w["t1"] - w["t0"] == 500_000_000 and w["t0"] == (first + w["window"]) * 500_000_000
            assert_sample_matches(w, paths[i], w["t0"], w["t1"])
        assert sum(len(w[k]["t"]) for w in windows for k in hidpack.KINDS) == len(rec)


def test_windows_of_a_file_whose_times_go_back_keep_file_order(tmp_path):
    """Imported files may hold times out of order: each window still gets exactly its events,
    in file order."""
    p = tmp_path / "back.hpk"
    t = [2_500_000_000, 100, 1_200_000_000, 50, 2_400_000_000, 1_100_000_000, -300_000_000]
    hidpack.write_table(p, {"t": t, "kind": ["move", "key", "move", "move", "key", "move", "move"],
                            "x": [1.0, None, 2.0, 3.0, None, 4.0, 5.0], "y": [0.0, None, 0.0, 0.0, None, 0.0, 0.0],
                            "pressed": [None, True, None, None, False, None, None]})
    windows = list(FleetDataset([p], window=1.0, kinds=["move", "key"]))
    assert [(w["window"], w["t0"]) for w in windows] == [(0, -1_000_000_000), (1, 0), (2, 1_000_000_000), (3, 2_000_000_000)]
    assert [w["move"]["x"].tolist() for w in windows] == [[5.0], [3.0], [2.0, 4.0], [1.0]]
    assert [w["key"]["t"].tolist() for w in windows] == [[], [100], [], [2_400_000_000]]
    for w in windows:
        assert_kind_matches(w["move"], hidpack.open(p).between(w["t0"], w["t1"]), "move")


@pytest.mark.parametrize("window", [0, -1.0, float("nan"), float("inf"), True, "1s", 1e-12])
def test_a_bad_window_is_refused_up_front(tmp_path, window):
    paths = make_fleet(tmp_path, 1)
    with pytest.raises(ValueError, match="window must be"):
        FleetDataset(paths, window=window)


def test_the_sample_maker_is_pluggable(tmp_path):
    paths = make_fleet(tmp_path, 5)
    got = sorted(tuple(s) for s in DataLoader(FleetDataset(paths, count_events), batch_size=None, num_workers=2))
    assert got == sorted((i, len(hidpack.open(p))) for i, p in enumerate(paths))
    assert list(SAMPLES) == ["episode", "bins"]
    with pytest.raises(ValueError, match="unknown sample 'frames'; known: episode, bins"):
        FleetDataset(paths, "frames")
    with pytest.raises(TypeError, match="a callable sample takes none"):
        FleetDataset(paths, count_events, window=1.0)
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        Episodes(kinds=["mouse"])


def count_events(rec, file):
    """A sample maker (module level: DataLoader workers may need to pickle it)."""
    yield (file, len(rec))


# -- sharding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_partition_the_files_of_every_epoch(shuffle):
    for n in (0, 1, 2, 7, 13):
        for shards in range(1, 9):
            for epoch in (0, 1, 5):
                got = [i for s in range(shards) for i in shard_files(n, s, shards, epoch=epoch, shuffle=shuffle, seed=3)]
                assert sorted(got) == list(range(n)), (n, shards, epoch)
    with pytest.raises(ValueError, match="shard 2 is not in 0..1"):
        shard_files(5, 2, 2)


@pytest.mark.parametrize("world,workers", [(1, 2), (2, 2), (3, 1), (3, 2)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_file_is_read_once_across_ranks_and_dataloader_workers(tmp_path, world, workers, shuffle):
    paths = make_fleet(tmp_path, 11)
    seen: list = []
    per_process: dict = {}
    for rank in range(world):
        ds = FleetDataset(tmp_path / "fleet", shuffle=shuffle, seed=5, rank=rank, world_size=world)
        ds.set_epoch(2)
        for s in DataLoader(ds, batch_size=None, num_workers=workers):
            i = file_of(s)
            seen.append(i)
            per_process.setdefault(rank, []).append(i)
            assert s["path"] == paths[i] and isinstance(s["move"]["x"], torch.Tensor)
    counts = Counter(seen)
    assert sorted(counts) == list(range(11)) and set(counts.values()) == {1}, counts
    # the shards are as documented: rank r's workers read shards r*workers .. r*workers+workers-1
    for rank, files in per_process.items():
        want = {i for w in range(workers) for i in shard_files(11, rank * workers + w, world * workers,
                                                                epoch=2, shuffle=shuffle, seed=5)}
        assert set(files) == want


def test_an_epoch_order_is_reproducible_and_changes_with_the_epoch(tmp_path):
    make_fleet(tmp_path, 11)
    fleet = tmp_path / "fleet"

    def order(ds, workers=2):
        return [file_of(s) for s in DataLoader(ds, batch_size=None, num_workers=workers)]

    ds = FleetDataset(fleet, shuffle=True, seed=7)
    e0 = order(ds)
    assert order(ds) == e0  # the same epoch again
    ds.set_epoch(1)
    e1 = order(ds)
    assert sorted(e1) == sorted(e0) == list(range(11)) and e1 != e0
    again = FleetDataset(fleet, shuffle=True, seed=7)
    again.set_epoch(1)
    assert order(again) == e1  # a new dataset (a restarted job) replays the epoch
    assert order(FleetDataset(fleet, shuffle=True, seed=8)) != e0
    assert order(FleetDataset(fleet), workers=0) == list(range(11))  # no shuffle: path order
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        ds.set_epoch(-1)


def _rank_process(store: str, rank: int, fleet: str, out) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
    try:
        ds = FleetDataset(fleet)  # no rank given: torch.distributed's
        out.put((rank, ds.rank_and_world(), [file_of(s) for s in DataLoader(ds, batch_size=None, num_workers=2)]))
    finally:
        dist.destroy_process_group()


def test_rank_and_world_size_come_from_torch_distributed(tmp_path):
    make_fleet(tmp_path, 7)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_rank_process, args=(str(tmp_path / "store"), r, str(tmp_path / "fleet"), out))
             for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [r[1] for r in results] == [(0, 2), (1, 2)]
    files = results[0][2] + results[1][2]
    assert sorted(files) == list(range(7))
    assert set(results[1][2]) == set(shard_files(7, 2, 4)) | set(shard_files(7, 3, 4))


def test_rank_and_options_are_checked(tmp_path):
    paths = make_fleet(tmp_path, 2)
    for kwargs, message in [
        ({"rank": 2, "world_size": 2}, "rank 2 is not below world_size 2"),
        ({"rank": -1}, "rank must be an int >= 0"),
        ({"world_size": 0}, "world_size must be an int >= 1"),
        ({"seed": -3}, "seed must be an int >= 0"),
        ({"threads": 0}, "threads must be an int >= 1"),
        ({"errors": "ignore"}, "errors must be 'raise' or 'skip'"),
    ]:
        with pytest.raises(ValueError, match=message):
            FleetDataset(paths, **kwargs)
    with pytest.raises(ValueError, match=r"rank 3 is not below world_size 1 \(torch.distributed's\)"):
        FleetDataset(paths, rank=3).rank_and_world()  # world 1 from (uninitialised) torch.distributed
    with pytest.raises(FileNotFoundError, match="no file matches"):
        FleetDataset(str(tmp_path / "nothing" / "*.hpk"))


# -- damaged files --------------------------------------------------------------------------------


def damage_second_block(path: str) -> None:
    rec = hidpack.open(path)
    b = rec.blocks()[1]
    rec.close()
    data = bytearray(open(path, "rb").read())
    data[b["offset"] + b["length"] // 2] ^= 0x5A
    open(path, "wb").write(bytes(data))


def test_a_damaged_file_raises_with_its_path_or_is_skipped_out_loud(tmp_path):
    paths = make_fleet(tmp_path, 4)
    damage_second_block(paths[2])
    junk = tmp_path / "fleet" / "s99.hpk"
    junk.write_bytes(b"not a hidpack file" * 4)
    ds = FleetDataset(tmp_path / "fleet")
    got = []
    with pytest.raises(hidpack.CorruptBlockError, match="^" + paths[2] + ": corrupt block") as e:
        for s in ds:
            got.append(s["file"])
    assert got == [0, 1] and e.value.path == paths[2]  # nothing of the damaged file passed on
    with pytest.raises(hidpack.FormatError, match="^" + str(junk) + ": .*not a hidpack file"):
        list(FleetDataset([junk]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = list(FleetDataset(tmp_path / "fleet", errors="skip"))
    assert [s["file"] for s in samples] == [0, 1, 2, 3]
    damaged = samples[2]
    assert sum(len(damaged[k]["t"]) for k in hidpack.KINDS) == len(hidpack.open(paths[2]).table(columns=[])["t"])
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 2 and messages[0].startswith(paths[2] + ": corrupt block") and "event(s) lost" in messages[0]
    assert messages[1].startswith(str(junk) + ": skipped, cannot be read")


def test_metadata_that_is_not_json_raises_or_is_skipped_out_loud(tmp_path):
    from test_damaged_inputs import _forge_metadata

    p = tmp_path / "m.hpk"
    _forge_metadata(p, "this is not json!")
    with pytest.raises(hidpack.MetadataError, match="^" + str(p) + ": header metadata is not valid JSON"):
        list(FleetDataset([p]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (sample,) = FleetDataset([p], errors="skip")
    assert sample["metadata"] == {} and len(sample["move"]["t"]) == 100
    assert [str(w.message)[: len(str(p)) + 17] for w in caught] == [str(p) + ": header metadata"]


# -- a real corpus --------------------------------------------------------------------------------


def test_a_real_corpus_slice_through_dataloader_workers_and_hf(tmp_path, capsys):
    """The first 150,000 rows of the balabit corpus, one file per session (5 of them): every
    session once, every event, through two DataLoader workers and through a saved Hugging Face
    dataset."""
    paths = balabit_sessions(tmp_path, 150_000)
    assert len(paths) == 5
    ds = FleetDataset(paths, kinds=["move", "button", "scroll"])
    loaded = {s["file"]: s for s in DataLoader(ds, batch_size=None, num_workers=2, collate_fn=keep_numpy)}
    assert sorted(loaded) == list(range(len(paths)))
    total = 0
    for i, s in loaded.items():
        rec = hidpack.open(paths[i])
        for kind in ("move", "button", "scroll"):
            assert_kind_matches(s[kind], rec, kind)
            total += len(s[kind]["t"])
        tensors = default_convert(s)  # in the main process: tensors over the same memory
        assert isinstance(tensors["move"]["x"], torch.Tensor) and tensors["move"]["x"].dtype == torch.float64
        assert np.shares_memory(tensors["move"]["x"].numpy(), s["move"]["x"])
    assert total == len(hidpack.read_many(paths, kinds=["move", "button", "scroll"], columns=[])["t"]) > 140_000
    out = tmp_path / "hf"
    rc, stdout, err = cli(capsys, "export", *paths, "--to", "hf", "-o", out)
    assert rc == 0 and err == "", err
    assert_hf_matches(out, paths)


# -- Hugging Face export --------------------------------------------------------------------------


def cli(capsys, *args):
    """The CLI in this process (datasets is imported once): (exit code, stdout, stderr)."""
    from hidpack.cli import main

    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_hf_matches(out, paths, window=None) -> None:
    """``datasets.load_from_disk(out)`` holds every file's events exactly, as hidpack reads them."""
    rows = list(datasets.load_from_disk(str(out)))
    if window is None:
        assert [r["file"] for r in rows] == list(range(len(paths)))
    for r in rows:
        i = r["file"]
        assert r["path"] == paths[i]
        with hidpack.open(paths[i]) as rec:
            assert json.loads(r["metadata"]) == rec.metadata
            assert r["wall_clock_ns"] == rec.wall_clock_ns
            view = rec.between(r.get("t0"), r.get("t1"))
            for kind in hidpack.KINDS:
                types = dict(kind_columns(kind))
                cols = {k: (v if types[k] == "str" else np.asarray(v)) for k, v in r[kind].items()}
                assert_kind_matches(cols, view, kind)
    total = sum(len(r[k]["t"]) for r in rows for k in hidpack.KINDS)
    assert total == sum(len(hidpack.open(p)) for p in paths)


def test_export_to_hf_reads_back_exactly_with_load_from_disk(tmp_path, capsys, monkeypatch):
    paths = make_fleet(tmp_path, 6)
    out = tmp_path / "ds"
    rc, stdout, err = run("export", tmp_path / "fleet", "--to", "hf", "-o", out)
    assert rc == 0 and err == "", err
    assert stdout.startswith("exported 6 recording(s), 6 row(s) to %s (hf)" % out)
    assert_hf_matches(out, paths)
    # the rows are the samples FleetDataset yields
    row = datasets.load_from_disk(str(out)).with_format("numpy")[3]
    sample = list(FleetDataset(paths))[3]
    assert np.array_equal(row["focus"]["window_valid"], sample["focus"]["window_valid"])
    assert row["text"]["text"].tolist() == sample["text"]["text"].tolist()
    # windows: one row per half second of each file, in record batches of 4 rows (files whole)
    import hidpack.io_hf

    monkeypatch.setattr(hidpack.io_hf, "BATCH_ROWS", 4)
    win = tmp_path / "win"
    rc, stdout, err = cli(capsys, "export", *paths, "--to", "hf", "-o", win, "--window", "0.5", "--unit", "episode")
    assert rc == 0, err
    n_windows = sum(1 for _ in FleetDataset(paths, window=0.5))
    assert "6 recording(s), %d row(s)" % n_windows in stdout
    assert_hf_matches(win, paths, window=0.5)


def test_export_to_hf_never_replaces_what_it_should_not(tmp_path, capsys):
    paths = make_fleet(tmp_path, 3)
    out = tmp_path / "ds"
    assert cli(capsys, "export", paths[0], "--to", "hf", "-o", out)[0] == 0
    before = sorted(os.listdir(out))
    rc, stdout, err = cli(capsys, "export", *paths, "--to", "hf", "-o", out)
    assert rc == 2 and err.startswith("hidpack: error: FileExistsError: %s: already exists; pass --force" % out)
    assert datasets.load_from_disk(str(out)).num_rows == 1 and sorted(os.listdir(out)) == before
    rc, stdout, err = cli(capsys, "export", *paths, "--to", "hf", "-o", out, "--force")
    assert rc == 0, err
    assert_hf_matches(out, paths)
    # --force replaces a saved dataset (or an empty directory), nothing else
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    rc, stdout, err = cli(capsys, "export", *paths, "--to", "hf", "-o", other, "--force")
    assert rc == 2 and "not a saved Hugging Face dataset" in err
    assert os.listdir(other) == ["notes.txt"]
    # a file that cannot be read: the error names it, and nothing is left behind
    bad = tmp_path / "fleet" / "zz.hpk"
    bad.write_bytes(b"junk" * 40)
    rc, stdout, err = cli(capsys, "export", tmp_path / "fleet", "--to", "hf", "-o", tmp_path / "never")
    assert rc == 2 and ("%s: format error" % bad) in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "never").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".hidpack-hf-")]
    rc, stdout, err = cli(capsys, "export", paths[0], "--to", "csv", "-o", tmp_path / "x.csv", "--window", "1")
    assert rc == 2 and "--unit, --window and --fps are for --to hf" in err
    shutil.rmtree(out)


def test_export_to_hf_shows_progress_on_a_terminal_and_honours_quiet(tmp_path):
    make_fleet(tmp_path, 3)
    rc, out, tty = run_on_tty("export", tmp_path / "fleet", "--to", "hf", "-o", tmp_path / "a")
    assert rc == 0 and "exporting to a: " in tty and "0/3 [" in tty and "exported 3 recording(s)" in out, tty
    assert "Generating" not in tty and "Saving" not in tty  # datasets' own bars stay off
    rc, out, tty = run_on_tty("export", "-q", tmp_path / "fleet", "--to", "hf", "-o", tmp_path / "b")
    assert rc == 0 and out == "" and tty == "", (out, tty)
    assert datasets.load_from_disk(str(tmp_path / "b")).num_rows == 3
