//! Reading many files as one table: a fleet of recordings (one per person, session or hour)
//! queried together.
//!
//! [`read_many`] opens each file (with its write-ahead tail, like [`Reader::open`]) and reads the
//! events a query wants: one table per file, in the order the paths were given
//! ([`ManyTable::parts`]; [`ManyTable::concat`] stacks them, with each row's file index). Times
//! stay relative to each file's own start (the header's wall clock says where that is).
//!
//! Files are read on up to `threads` threads, one file per thread at a time (with fewer files
//! than threads, each file's blocks are split among the spare ones), and collected in order, so
//! the result does not depend on the thread count. The files' tables are not concatenated: a
//! caller that scatters them into its own columns copies each event of a one-block file once
//! (the blocks of a longer file are joined into its table first). [`read_many_each`] hands each
//! table over as it is read, so such a caller (the Python bindings) need not hold them all, and
//! [`Reader::max_events`] sizes its columns beforehand.
//!
//! [`gather_many`] puts the files' rows into one set of wide columns ([`crate::wide::Gather`]:
//! the union table, or the columns of a DataFrame), a batch at a time.
//!
//! Nothing is lost silently. A file that cannot be opened, and every block a reader had to skip
//! (a damaged block, a torn end), is either the error ([`OnProblem::Raise`]: the first one in path
//! order; nothing after it is returned) or listed in [`ManyTable::skipped`] with its file
//! ([`OnProblem::Skip`]).

use std::ops::ControlFlow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::reader::{in_order, Problem, Reader, Source};
use crate::table::EventTable;
use crate::wide::{Gather, WideQuery, WideTable};

pub use crate::placed::BlockRows;

/// Files in flight at once: each thread takes the next file as it finishes one (sizes vary), and
/// the results are kept anyway. Under [`OnProblem::Raise`], at most this many files are read past
/// a failing one.
pub(crate) const WAVE: usize = 64;

/// What [`read_many`] does when a file cannot be opened or a block of it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnProblem {
    /// Fail with the first problem, in path order ([`ManyError`]).
    Raise,
    /// Read everything readable, and list each problem in [`ManyTable::skipped`].
    Skip,
}

/// The query [`read_many`] applies to every file.
#[derive(Debug, Clone, Copy)]
pub struct ManyOptions {
    /// Events with `t0 <= t` (file time), if set.
    pub t0: Option<i64>,
    /// Events with `t < t1` (file time), if set.
    pub t1: Option<i64>,
    /// Kinds wanted: bit k set = kind code k ([`crate::reader::ALL_KINDS`] for all).
    pub kinds: u16,
    /// Files read at once (at least 1).
    pub threads: usize,
    pub on_problem: OnProblem,
}

/// Something [`read_many`] skipped, and in which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Index of the file in the paths given.
    pub file: usize,
    /// What was skipped: a block (its offset, length and events lost), or the whole file when it
    /// could not be opened (`offset` is where the reader failed, when known; `events_lost` is
    /// not known).
    pub problem: Problem,
    /// The file could not be opened: none of its events were read.
    pub whole_file: bool,
}

/// The events of many files, in path order.
#[derive(Debug, Default)]
pub struct ManyTable {
    /// The events of each file, in path order (empty for a file skipped whole; not kept by
    /// [`read_many_each`]).
    pub parts: Vec<EventTable>,
    /// Each file's wall clock at its `t = 0` (Unix ns; `None` when its writer did not know it,
    /// or the file was skipped whole): `t + wall_clock_ns[file]` is a row's wall time.
    pub wall_clock_ns: Vec<Option<i64>>,
    /// Empty under [`OnProblem::Raise`].
    pub skipped: Vec<Skipped>,
}

impl ManyTable {
    /// Events in all parts.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.is_empty())
    }
    /// The parts as one table, and for each row the index of its file.
    pub fn concat(self) -> (EventTable, Vec<u32>) {
        let mut file = Vec::with_capacity(self.len());
        let mut out = EventTable::new();
        for (j, t) in self.parts.into_iter().enumerate() {
            file.resize(file.len() + t.len(), j as u32);
            if out.is_empty() {
                out = t;
            } else {
                out.extend_from(&t);
            }
        }
        (out, file)
    }
}

/// The first problem under [`OnProblem::Raise`]: which file, and the error (a block the reader
/// skipped becomes [`Error::CorruptBlock`] at the block's offset).
#[derive(Debug, thiserror::Error)]
#[error("file {file}: {error}")]
pub struct ManyError {
    pub file: usize,
    pub error: Error,
}

/// Reads the events `opts` selects from every file of `paths` into one table (see the module
/// docs). More than `u32::MAX` paths is a usage error.
pub fn read_many<P: AsRef<Path> + Sync>(paths: &[P], opts: ManyOptions) -> std::result::Result<ManyTable, ManyError> {
    let mut parts = Vec::with_capacity(paths.len());
    let mut out = read_many_each(paths, opts, |_, t| parts.push(t))?;
    out.parts = parts;
    Ok(out)
}

/// [`read_many`], handing each file's table to `each(file index, table)` as it is read, in path
/// order, instead of keeping them (the returned [`ManyTable`] has no `parts`): a caller that
/// copies each into its own columns holds a few files' tables at a time, not all of them. A file
/// skipped whole is handed over as an empty table. Under [`OnProblem::Raise`], the files before
/// the failing one have been handed over when the error returns.
pub fn read_many_each<P: AsRef<Path> + Sync>(
    paths: &[P],
    opts: ManyOptions,
    each: impl FnMut(usize, EventTable),
) -> std::result::Result<ManyTable, ManyError> {
    read_many_each_by(paths.len(), |j| Reader::open_for_events(paths[j].as_ref()), opts, each)
}

/// [`read_many_each`] over `n` recordings that need not be files: `open(j)` opens the `j`th
/// (a file, bytes in memory, a caller's [`crate::reader::Source`]), on the reading threads, when
/// its turn comes. An error from `open` is that recording's, as a file that cannot be opened.
pub fn read_many_each_by<S: Source>(
    n: usize,
    open: impl Fn(usize) -> Result<Reader<S>> + Sync,
    opts: ManyOptions,
    mut each: impl FnMut(usize, EventTable),
) -> std::result::Result<ManyTable, ManyError> {
    if n > u32::MAX as usize {
        return Err(ManyError { file: 0, error: Error::Usage(format!("{n} paths; at most {}", u32::MAX)) });
    }
    // Fewer files than threads (one long recording, a few hours): the spare threads decode the
    // blocks of each file ([`Reader::read_threads`]; same result).
    let per_file = (opts.threads / n.max(1)).max(1);
    let read_one = |j: usize| -> Result<(EventTable, Vec<Problem>, Option<i64>)> {
        let r = open(j)?;
        let t = r.read_threads(opts.t0, opts.t1, opts.kinds, None, per_file)?;
        Ok((t, r.problems(), r.header().wall_clock_ns))
    };
    let mut out = ManyTable { parts: Vec::new(), wall_clock_ns: Vec::with_capacity(n), skipped: Vec::new() };
    let mut failed: Option<ManyError> = None;
    in_order(n, opts.threads, WAVE, read_one, |j, res| {
        match res {
            Ok((t, problems, wall)) => {
                if opts.on_problem == OnProblem::Raise {
                    if let Some(p) = problems.into_iter().next() {
                        let lost = p.events_lost.map_or(String::new(), |n| format!(" ({n} events lost)"));
                        let error = Error::CorruptBlock { offset: p.offset, msg: format!("{}{lost}", p.error) };
                        failed = Some(ManyError { file: j, error });
                        return ControlFlow::Break(());
                    }
                } else {
                    out.skipped.extend(problems.into_iter().map(|problem| Skipped { file: j, problem, whole_file: false }));
                }
                each(j, t);
                out.wall_clock_ns.push(wall);
            }
            Err(error) => {
                if opts.on_problem == OnProblem::Raise {
                    failed = Some(ManyError { file: j, error });
                    return ControlFlow::Break(());
                }
                let problem = Problem { offset: error.offset().unwrap_or(0), length: 0, error: error.to_string(), events_lost: None };
                out.skipped.push(Skipped { file: j, problem, whole_file: true });
                each(j, EventTable::new());
                out.wall_clock_ns.push(None);
            }
        }
        ControlFlow::Continue(())
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// What [`gather_many`] returns: the columns, the events read from each file (0 for a file
/// skipped whole), and the files' wall clocks and problems (a [`ManyTable`] without `parts`).
pub type Gathered = (WideTable, Vec<u64>, ManyTable);

/// [`read_many_each_by`] into `out`'s columns: the files' tables are appended a batch of about
/// [`Gather::batch_rows`] rows at a time (fields filled in parallel), so a read holds its output and
/// one batch, not every file's table besides. (A batch of 16 x 64 Ki rows held 21 B per row of a
/// 1.6 M-row fleet at once; one file at a time was no faster.)
///
/// What a recording's index says of a query, read before a [`gather_many`]: the rows it may
/// return, and, when its index says exactly which rows of which blocks, those (the read may
/// then place each block's rows straight into the output columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Count {
    /// At most this many rows ([`Reader::max_events`]; 0 when not known).
    pub max_events: u64,
    /// The blocks and their rows, when every wanted block lies inside the window (None: not
    /// known, or the recording could not be opened).
    pub blocks: Option<BlockRows>,
}

impl Count {
    /// The count of the query `opts` from `reader`'s index.
    pub fn of<S: Source>(reader: &Reader<S>, opts: &ManyOptions) -> Count {
        let blocks = if reader.problems().is_empty() {
            crate::placed::block_rows(reader, opts.t0, opts.t1, opts.kinds, None).ok().flatten()
        } else {
            None
        };
        Count { max_events: reader.max_events(opts.t0, opts.t1, opts.kinds), blocks }
    }
}

/// What a [`gather_many`]'s `count` says of a recording: its [`Count`], and its reader if the
/// read may take it rather than open the recording again.
pub type Counted<S> = (Count, Option<Reader<S>>);

/// Bytes of recordings a [`gather_many`] keeps in memory between its count and its read (the
/// readers its `count` hands back), so as not to open and read those files twice.
pub const KEEP_BYTES: u64 = 256 << 20;

/// [`read_many_each_by`] into `out`'s columns.
///
/// `count(j)`, if given, is what the `j`th recording's index says of the query ([`Count::of`];
/// [`Count::default`] when not known), and, optionally, its reader for the read to use rather
/// than open it again (one over bytes in memory: [`Reader::into_memory`]; up to [`KEEP_BYTES`]
/// of them are kept): the counts are read first (on the reading threads). When
/// every recording's blocks are known ([`Count::blocks`]), the columns are allocated once at
/// full size and each block's rows are written straight into its slice of them, on the thread
/// that decodes it (`crate::placed`); should anything differ from the index there (a damaged
/// file, a file changed in between), nothing of that is kept and the files are read as follows.
///
/// Otherwise the files' tables are appended a batch of about [`Gather::batch_rows`] rows at a
/// time (fields filled in parallel), so a read holds its output and one batch, not every file's
/// table besides. (A batch of 16 x 64 Ki rows held 21 B per row of a 1.6 M-row fleet at once;
/// one file at a time was no faster.) The counted rows, summed, size the columns at once, so
/// that none is copied as it grows nor ends with half of its room unused. The indexes are
/// untrusted: the sum is a wish (room refused is not taken) and more rows than counted grow the
/// columns as usual.
///
/// Counting costs an extra open per file (about 4 µs), which a read of a few files may do
/// without.
pub fn gather_many<S: Source>(
    n: usize,
    open: impl Fn(usize) -> Result<Reader<S>> + Sync,
    count: Option<&(dyn Fn(usize) -> Counted<S> + Sync)>,
    opts: ManyOptions,
    mut out: Gather,
) -> std::result::Result<Gathered, ManyError> {
    if let Some(count) = count {
        let mut rows = 0u64;
        let mut blocks: Option<Vec<BlockRows>> = Some(Vec::with_capacity(n));
        // readers kept from the count for the placed read, while their bytes stay under KEEP_BYTES
        let mut kept: Vec<Option<Reader<S>>> = Vec::with_capacity(n);
        let mut kept_bytes = 0u64;
        in_order(n, opts.threads, WAVE, count, |_, (c, r)| {
            rows = rows.saturating_add(c.max_events);
            match (&mut blocks, c.blocks) {
                (Some(v), Some(b)) => v.push(b),
                _ => blocks = None,
            }
            let r = r.filter(|r| blocks.is_some() && kept_bytes.saturating_add(r.source_len()) <= KEEP_BYTES);
            kept_bytes += r.as_ref().map_or(0, |r| r.source_len());
            kept.push(r);
            ControlFlow::Continue(())
        });
        if let (Some(files), Some((mask, fields, true, layout, frame_mask))) = (&blocks, out.placed_query()) {
            if mask == opts.kinds && n <= u32::MAX as usize {
                let placed = crate::placed::gather_placed(&open, kept, files, &WideQuery { t0: opts.t0, t1: opts.t1, kinds: mask, fields, blocks: None, threads: opts.threads, layout }, frame_mask);
                if let Some((table, events, wall_clock_ns)) = placed {
                    return Ok((table, events, ManyTable { parts: Vec::new(), wall_clock_ns, skipped: Vec::new() }));
                }
            }
        }
        drop(blocks);
        out.reserve(usize::try_from(rows).unwrap_or(usize::MAX));
    }
    let (mut batch, mut rows, batch_rows) = (Vec::new(), 0usize, out.batch_rows());
    let mut events = Vec::with_capacity(n);
    let m = read_many_each_by(n, open, opts, |_, t| {
        events.push(t.len() as u64);
        rows += t.len();
        batch.push(t);
        if rows >= batch_rows {
            out.append(std::mem::take(&mut batch), opts.threads);
            rows = 0;
        }
    })?;
    out.append(batch, opts.threads);
    Ok((out.finish(), events, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{kind_mask, ALL_KINDS};
    use crate::{Event, Kind, Writer, WriterOptions};

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            let d = std::env::temp_dir().join(format!("hidpack-many-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, first: i64, n: usize) {
        let f = std::fs::File::create(path).unwrap();
        let wall_clock_ns = (first % 200 == 0).then_some(1_700_000_000_000_000_000 + first);
        let mut w = Writer::new(f, WriterOptions { block_events: 7, wall_clock_ns, ..Default::default() }).unwrap();
        for i in 0..n as i64 {
            let ev = if i % 5 == 4 {
                Event::Key { pressed: i % 2 == 0, usage: Some(4 + i as u16 % 20), native: None }
            } else {
                Event::Move { x: (first + i) << 16, y: (3 * i) << 16, buttons: None }
            };
            w.push(i * 1_000_000, &ev).unwrap();
        }
        w.close().unwrap();
    }

    fn opts(threads: usize, on_problem: OnProblem) -> ManyOptions {
        ManyOptions { t0: None, t1: None, kinds: ALL_KINDS, threads, on_problem }
    }

    fn expected(paths: &[std::path::PathBuf], kinds: u16, t0: Option<i64>, t1: Option<i64>) -> (EventTable, Vec<u32>) {
        let mut t = EventTable::new();
        let mut file = Vec::new();
        for (j, p) in paths.iter().enumerate() {
            let part = Reader::open(p).unwrap().read(t0, t1, kinds, None).unwrap();
            file.extend(std::iter::repeat_n(j as u32, part.len()));
            t.extend_from(&part);
        }
        (t, file)
    }

    #[test]
    fn files_are_appended_in_path_order_on_any_thread_count() {
        let dir = TempDir::new("order");
        let sizes = [40usize, 0, 1, 23, 64, 5, 17, 30, 2];
        let paths: Vec<_> = sizes.iter().enumerate().map(|(j, &n)| {
            let p = dir.path().join(format!("{j}.hpk"));
            write(&p, 100 * j as i64, n);
            p
        }).collect();
        let moves = crate::reader::kind_mask(&[Kind::Move]);
        for (kinds, t0, t1) in [(ALL_KINDS, None, None), (moves, Some(3_000_000), Some(20_000_000))] {
            let (want, want_file) = expected(&paths, kinds, t0, t1);
            for threads in [1, 2, 3, 8, 64] {
                let got = read_many(&paths, ManyOptions { t0, t1, kinds, threads, on_problem: OnProblem::Raise }).unwrap();
                assert!(got.skipped.is_empty());
                let per: Vec<usize> = (0..paths.len()).map(|j| want_file.iter().filter(|&&f| f == j as u32).count()).collect();
                assert_eq!(got.parts.iter().map(|p| p.len()).collect::<Vec<_>>(), per);
                assert_eq!(got.len(), want.len());
                let walls: Vec<Option<i64>> = (0..paths.len() as i64).map(|j| (j % 2 == 0).then_some(1_700_000_000_000_000_000 + 100 * j)).collect();
                assert_eq!(got.wall_clock_ns, walls);
                // handed over one by one, the same tables in the same order
                let mut each = Vec::new();
                let rest = read_many_each(&paths, ManyOptions { t0, t1, kinds, threads, on_problem: OnProblem::Raise }, |j, t| each.push((j, t.len()))).unwrap();
                assert!(rest.parts.is_empty());
                assert_eq!(rest.wall_clock_ns, got.wall_clock_ns);
                assert_eq!(each, per.iter().copied().enumerate().collect::<Vec<_>>());
                let (table, file) = got.concat();
                assert_eq!(table.events().collect::<Vec<_>>(), want.events().collect::<Vec<_>>(), "{threads} threads");
                assert_eq!(file, want_file);
            }
            // a reader's count of a query is an upper bound, exact without a selection
            for (j, p) in paths.iter().enumerate() {
                let r = Reader::open(p).unwrap();
                let n = want_file.iter().filter(|&&f| f == j as u32).count() as u64;
                let max = r.max_events(t0, t1, kinds);
                assert!(max >= n, "file {j}: {max} < {n}");
                assert_eq!(r.max_events(None, None, ALL_KINDS), sizes[j] as u64);
            }
        }
        let none: [&Path; 0] = [];
        let got = read_many(&none, opts(4, OnProblem::Raise)).unwrap();
        assert!(got.parts.is_empty() && got.is_empty());
    }

    #[test]
    fn recordings_in_memory_read_as_their_files() {
        use crate::reader::MemorySource;
        let dir = TempDir::new("memory");
        let paths: Vec<_> = [40usize, 0, 23].iter().enumerate().map(|(j, &n)| {
            let p = dir.path().join(format!("{j}.hpk"));
            write(&p, 100 * j as i64, n);
            p
        }).collect();
        let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let (want, _) = expected(&paths, ALL_KINDS, None, None);
        let open = |j: usize| Reader::from_source(MemorySource(bytes[j].as_slice().to_vec())).map(Reader::into_dyn);
        let mut got = EventTable::new();
        read_many_each_by(paths.len(), open, opts(2, OnProblem::Raise), |_, t| got.extend_from(&t)).unwrap();
        assert_eq!(got.events().collect::<Vec<_>>(), want.events().collect::<Vec<_>>());
        // a cut buffer fails as the cut file does, with the same error
        let cut = &bytes[0][..bytes[0].len() / 2];
        let cut_path = dir.path().join("cut.hpk");
        std::fs::write(&cut_path, cut).unwrap();
        let from_file = Reader::open(&cut_path).unwrap();
        let from_mem = Reader::from_source(MemorySource(cut)).unwrap();
        assert_eq!(from_mem.problems(), from_file.problems());
        assert!(!from_mem.problems().is_empty());
        let short = Reader::from_source(MemorySource(&cut[..5])).err().expect("5 bytes is no recording");
        assert_eq!(short.to_string(), "format error at offset 0: not a hidpack file: 5 bytes is too short for a header");
        // offsets past the end (or near u64::MAX) are an end of file, never a panic
        let m = MemorySource(&bytes[0][..]);
        use crate::reader::Source as _;
        let mut buf = [0u8; 16];
        assert!(m.read_at(u64::MAX - 4, &mut buf).is_err());
        assert!(m.read_at(m.len() - 8, &mut buf).is_err());
        assert!(m.read_at(m.len() - 16, &mut buf).is_ok());
    }

    #[test]
    fn problems_raise_the_first_in_path_order_or_are_listed() {
        let dir = TempDir::new("problems");
        let mut paths = Vec::new();
        for j in 0..6 {
            let p = dir.path().join(format!("{j}.hpk"));
            write(&p, 0, 30);
            paths.push(p);
        }
        // file 2 is missing; file 4 has a damaged block (a byte in the middle of the file flipped)
        std::fs::remove_file(&paths[2]).unwrap();
        let mut bytes = std::fs::read(&paths[4]).unwrap();
        let r = Reader::open(&paths[4]).unwrap();
        let b = r.blocks()[1].clone();
        bytes[(b.offset + u64::from(b.length) / 2) as usize] ^= 0x5A;
        std::fs::write(&paths[4], &bytes).unwrap();

        for threads in [1, 2, 5] {
            let e = read_many(&paths, opts(threads, OnProblem::Raise)).unwrap_err();
            assert_eq!(e.file, 2, "{threads} threads");
            assert!(matches!(&e.error, Error::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound), "{e}");
            let e = read_many(&paths[3..], opts(threads, OnProblem::Raise)).unwrap_err();
            assert_eq!(e.file, 1);
            assert!(matches!(e.error, Error::CorruptBlock { offset, .. } if offset == b.offset), "{e}");
            assert!(e.to_string().contains("events lost"), "{e}");

            let got = read_many(&paths, opts(threads, OnProblem::Skip)).unwrap();
            assert_eq!(got.skipped.len(), 2, "{:?}", got.skipped);
            assert_eq!((got.skipped[0].file, got.skipped[0].whole_file), (2, true));
            assert_eq!((got.skipped[1].file, got.skipped[1].whole_file), (4, false));
            assert_eq!(got.skipped[1].problem.offset, b.offset);
            assert_eq!(got.skipped[1].problem.events_lost, Some(u64::from(b.events)));
            let per: Vec<u64> = got.parts.iter().map(|p| p.len() as u64).collect();
            assert_eq!(per, vec![30, 30, 0, 30, 30 - u64::from(b.events), 30]);
            assert_eq!(got.wall_clock_ns.len(), 6);
            assert_eq!(got.wall_clock_ns[2], None);
        }
    }

    /// Events of every kind but gap, optional fields present on some rows only, stretches of
    /// moves only (blocks of one kind) between mixed ones; `seed` shifts the values.
    fn mixed(n: i64, seed: i64) -> Vec<(i64, Event)> {
        (0..n)
            .map(|i| {
                let v = i + seed;
                let ev = match if (i / 300) % 3 == 1 { 0 } else { v % 8 } {
                    0 | 1 => Event::Move { x: v << 16, y: (2 * v + 1) << 15, buttons: (v % 4 == 0).then_some(1) },
                    2 => Event::Key { pressed: v % 4 == 2, usage: Some(4 + (v % 20) as u16), native: (v % 5 == 0).then_some(30) },
                    3 => Event::Button { button: 1, pressed: v % 2 == 1, pos: (v % 9 == 3).then_some((v << 16, v << 16)) },
                    4 => Event::Text { text: format!("t{v}é") },
                    5 => Event::Scroll { dx: 0, dy: -(v << 16), pos: None },
                    6 => Event::RawMove { dx: v, dy: -v },
                    _ => Event::Marker { label: "m".into(), value: (v % 3 == 0).then_some(v) },
                };
                (i * 1000, ev)
            })
            .collect()
    }

    fn recording(evs: &[(i64, Event)], block_events: usize, wall: Option<i64>) -> Vec<u8> {
        let opts = WriterOptions { block_events, wall_clock_ns: wall, ..Default::default() };
        let mut w = Writer::new(Vec::new(), opts).unwrap();
        for (t, ev) in evs {
            w.push(*t, ev).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// A fleet in memory: files of many sizes and block sizes (one holds moves only, one nothing).
    fn fleet() -> Vec<Vec<u8>> {
        let mut files: Vec<Vec<u8>> = [(700i64, 250usize), (0, 100), (1, 100), (1200, 4096), (333, 64), (2000, 512)]
            .iter()
            .enumerate()
            .map(|(j, &(n, b))| recording(&mixed(n, 17 * j as i64), b, (j % 2 == 0).then_some(1_700_000_000_000_000_000 + j as i64)))
            .collect();
        let moves: Vec<(i64, Event)> = (0..500).map(|i| (i * 7, Event::Move { x: i << 16, y: -i << 16, buttons: None })).collect();
        files.push(recording(&moves, 200, None));
        files
    }

    type Open<'a> = Box<dyn Fn(usize) -> Result<Reader<Vec<u8>>> + Sync + 'a>;

    fn opener(files: &[Vec<u8>]) -> Open<'_> {
        Box::new(move |j: usize| Reader::from_source(files[j].clone()))
    }

    fn gather(mask: u16, fields: u32, frame: bool) -> Gather {
        let g = Gather::new(mask, fields, true);
        if frame {
            g.frame(mask)
        } else {
            g
        }
    }

    /// The result (or error) of a gather, as text (NaN equals NaN).
    fn as_text(r: std::result::Result<Gathered, ManyError>) -> String {
        match r {
            Ok((table, events, m)) => format!("{table:?}\n{events:?}\n{:?}\n{:?}\n{}", m.wall_clock_ns, m.skipped, m.parts.len()),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_placed_fleet_read_is_the_gathered_one() {
        use crate::wide::{ALL_FIELDS_MASK, HOLDING_DATA};
        let files = fleet();
        let key_text = kind_mask(&[Kind::Key, Kind::Text]);
        let x_text = 1 << crate::Field::X as u32 | 1 << crate::Field::Text as u32 | 1 << crate::Field::Count as u32;
        let windows = [(None, None), (Some(0), Some(64_000)), (Some(250_000), None), (Some(3_000), Some(5_000))];
        let mut placed_some = 0;
        for kinds in [ALL_KINDS, kind_mask(&[Kind::Move]), key_text] {
            for fields in [ALL_FIELDS_MASK | HOLDING_DATA, ALL_FIELDS_MASK, x_text] {
                for frame in [false, true] {
                    for (t0, t1) in windows {
                        for threads in [1, 3] {
                            let opts = ManyOptions { t0, t1, kinds, threads, on_problem: OnProblem::Raise };
                            let want = as_text(gather_many(files.len(), opener(&files), None, opts, gather(kinds, fields, frame)));
                            let count = |j: usize| (Count::of(&Reader::from_source(files[j].clone()).unwrap(), &opts), j.is_multiple_of(2).then(|| Reader::from_source(files[j].clone()).unwrap()));
                            let got = as_text(gather_many(files.len(), opener(&files), Some(&count), opts, gather(kinds, fields, frame)));
                            let what = format!("kinds {kinds:#x} fields {fields:#x} frame {frame} window {t0:?}..{t1:?} threads {threads}");
                            assert_eq!(got, want, "{what}");
                            // the placed read itself, when every file's blocks are known
                            let counts: Option<Vec<BlockRows>> = (0..files.len()).map(|j| count(j).0.blocks).collect();
                            if let Some(counts) = counts {
                                let g = gather(kinds, fields, frame);
                                let (_, _, _, layout, frame_mask) = g.placed_query().unwrap();
                                if let Some((table, events, walls)) =
                                    crate::placed::gather_placed(opener(&files), Vec::new(), &counts, &WideQuery { t0, t1, kinds, fields, blocks: None, threads, layout }, frame_mask)
                                {
                                    placed_some += 1;
                                    let m = ManyTable { parts: Vec::new(), wall_clock_ns: walls, skipped: Vec::new() };
                                    assert_eq!(as_text(Ok((table, events, m))), want, "{what}");
                                }
                            }
                        }
                    }
                }
            }
        }
        // windows on block edges (and none) are placed; the others are read the ordinary way
        assert!(placed_some >= 3 * 3 * 2 * 2, "{placed_some} placed reads");
        // and the placed columns are those of the parts read_many returns
        let paths: Vec<std::path::PathBuf> = {
            let dir = TempDir::new("placed");
            let ps = files.iter().enumerate().map(|(j, b)| {
                let p = dir.path().join(format!("{j}.hpk"));
                std::fs::write(&p, b).unwrap();
                p
            }).collect::<Vec<_>>();
            let opts = opts(1, OnProblem::Raise);
            let (table, _) = read_many(&ps, opts).unwrap().concat();
            let count = |j: usize| { let r = Reader::open_for_events(&ps[j]).unwrap(); (Count::of(&r, &opts), None) };
            let (wide, events, _) = gather_many(ps.len(), |j| Reader::open_for_events(&ps[j]), Some(&count), opts, gather(ALL_KINDS, ALL_FIELDS_MASK, false)).unwrap();
            assert_eq!(events.iter().sum::<u64>() as usize, table.len());
            let Some(crate::wide::WideColumn::I64(t)) = wide.get("t") else { panic!("no t") };
            assert_eq!(t, &table.t);
            std::mem::drop(dir);
            ps
        };
        assert_eq!(paths.len(), files.len());
    }

    #[test]
    fn a_placed_fleet_read_with_bad_files_is_the_ordinary_one() {
        use crate::wide::{ALL_FIELDS_MASK, HOLDING_DATA};
        let mut files = fleet();
        // file 0 has a damaged block (a byte flipped inside it), file 5 is cut (no footer),
        // file 1 is not a recording
        let r = Reader::from_source(files[0].clone()).unwrap();
        let b = r.blocks()[1].clone();
        files[0][(b.offset + u64::from(b.length) / 2) as usize] ^= 0x5A;
        let cut = files[5].len() * 2 / 3;
        files[5].truncate(cut);
        files[1] = b"not a recording at all".to_vec();
        let fields = ALL_FIELDS_MASK | HOLDING_DATA;
        for on_problem in [OnProblem::Raise, OnProblem::Skip] {
            for threads in [1, 2] {
                for frame in [false, true] {
                    let opts = ManyOptions { t0: None, t1: None, kinds: ALL_KINDS, threads, on_problem };
                    let want = as_text(gather_many(files.len(), opener(&files), None, opts, gather(ALL_KINDS, fields, frame)));
                    let count = |j: usize| Reader::from_source(files[j].clone()).map_or((Count::default(), None), |r| (Count::of(&r, &opts), Some(r)));
                    let got = as_text(gather_many(files.len(), opener(&files), Some(&count), opts, gather(ALL_KINDS, fields, frame)));
                    assert_eq!(got, want, "{on_problem:?} {threads} threads frame {frame}");
                    if on_problem == OnProblem::Skip {
                        assert!(want.contains("whole_file: true") && want.contains("events_lost"), "{want}");
                    } else {
                        assert!(want.starts_with("error: file 0:") && want.contains("events lost"), "{want}");
                    }
                }
            }
        }
        // only the damaged block's file among good ones: counted as good, found bad when decoded
        let (good, bad) = (fleet(), files[0].clone());
        let mut some = good.clone();
        some[0] = bad;
        for on_problem in [OnProblem::Raise, OnProblem::Skip] {
            let opts = ManyOptions { t0: None, t1: None, kinds: ALL_KINDS, threads: 2, on_problem };
            let want = as_text(gather_many(some.len(), opener(&some), None, opts, gather(ALL_KINDS, fields, false)));
            let count = |j: usize| { let r = Reader::from_source(some[j].clone()).unwrap(); (Count::of(&r, &opts), Some(r)) };
            assert!(count(0).0.blocks.is_some());
            assert_eq!(as_text(gather_many(some.len(), opener(&some), Some(&count), opts, gather(ALL_KINDS, fields, false))), want);
            // counted from other files than those read (a file changed in between): read as they are
            let count_good = |j: usize| (Count::of(&Reader::from_source(good[j].clone()).unwrap(), &opts), None);
            assert_eq!(as_text(gather_many(some.len(), opener(&some), Some(&count_good), opts, gather(ALL_KINDS, fields, false))), want);
        }
        // a file's index that claims other counts than its blocks hold: the same result as the
        // ordinary read, never a panic (the counts of an untrusted file are only a plan)
        let opts = opts(1, OnProblem::Skip);
        let g = fleet();
        let lie = |j: usize| {
            let r = Reader::from_source(g[j].clone()).unwrap();
            let mut c = Count::of(&r, &opts);
            if let Some(b) = c.blocks.as_mut().filter(|b| !b.rows.is_empty()) {
                b.rows[0] += 1;
            }
            (c, Some(r))
        };
        let want = as_text(gather_many(g.len(), opener(&g), None, opts, gather(ALL_KINDS, fields, false)));
        assert_eq!(as_text(gather_many(g.len(), opener(&g), Some(&lie), opts, gather(ALL_KINDS, fields, false))), want);
    }

    #[test]
    fn opening_for_events_reads_what_open_reads() {
        let dir = TempDir::new("for-events");
        let whole = dir.path().join("whole.hpk");
        write(&whole, 0, 40);
        // a stale tail beside a complete file is never merged: open says so, open_for_events does
        // not look
        std::fs::write(crate::writer::tail_path(&whole), b"stale").unwrap();
        let (a, b) = (Reader::open(&whole).unwrap(), Reader::open_for_events(&whole).unwrap());
        assert!(a.tail().is_some_and(|t| t.not_merged.is_some()));
        assert!(b.tail().is_none());
        let read = |r: &Reader| r.read(None, None, ALL_KINDS, None).unwrap();
        assert_eq!(read(&a).events().collect::<Vec<_>>(), read(&b).events().collect::<Vec<_>>());
        assert_eq!(a.problems(), b.problems());
        // the same reader over the bytes in memory reads the same
        let m = Reader::open_for_events(&whole).unwrap().into_memory().expect("a small file is read whole");
        assert_eq!(m.read(None, None, ALL_KINDS, None).unwrap().events().collect::<Vec<_>>(), read(&a).events().collect::<Vec<_>>());
        assert_eq!((m.blocks(), m.source_len()), (a.blocks(), std::fs::metadata(&whole).unwrap().len()));
        // a file without its footer: the tail beside it is looked for as by open
        let cut = dir.path().join("cut.hpk");
        let bytes = std::fs::read(&whole).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
        std::fs::write(crate::writer::tail_path(&cut), b"not a tail").unwrap();
        let (a, b) = (Reader::open(&cut).unwrap(), Reader::open_for_events(&cut).unwrap());
        assert!(b.tail().is_some());
        assert_eq!(a.tail(), b.tail());
        assert_eq!(read(&a).events().collect::<Vec<_>>(), read(&b).events().collect::<Vec<_>>());
        assert_eq!(a.problems(), b.problems());
        assert!(!b.problems().is_empty());
        // errors name the file as open's do
        let missing = dir.path().join("missing.hpk");
        assert_eq!(Reader::open(&missing).err().unwrap().to_string(), Reader::open_for_events(&missing).err().unwrap().to_string());
    }
}
