//! The encoder thread: drains the ring, writes events and batches, closes blocks, checkpoints
//! the open block to the write-ahead tail, writes the gaps of pending runs and clock records,
//! rotates files, and stops everything at the first write error.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock::{clock_pair, now_ns, ClockRecords, CLOCK_JUMP_NS, CLOCK_LABEL};
use super::slots::{from_slots, msg_len, Rec, KIND_BATCH};
use super::{Clock, OnClose, ProducerState, Shared};
use crate::error::{Error, Result};
use crate::model::{gap_reason, Event, NUM_KINDS};
use crate::ring;
use crate::table::EventTable;
use crate::writer::{Writer, WriterOptions};

/// The most events a due checkpoint waits for while the encoder handles a batch: the drained
/// slots' limit, so an `extend` batch of any size keeps the same bound as single pushes.
pub(super) const MAX_UNSAVED: usize = 8192;

/// Everything the encoder thread owns.
pub(super) struct Encoder {
    pub(super) cons: ring::Consumer<Rec>,
    pub(super) shared: Arc<Shared>,
    pub(super) opts_writer: WriterOptions,
    pub(super) tail: bool,
    pub(super) pattern: PathBuf,
    pub(super) part: u32,
    pub(super) writer: Option<Writer<std::io::BufWriter<std::fs::File>>>,
    pub(super) cur_path: PathBuf,
    pub(super) file_t0: Option<i64>,
    pub(super) rotate_every_ns: Option<i64>,
    pub(super) rotate_bytes: Option<u64>,
    pub(super) flush_interval_ns: i64,
    pub(super) last_ckpt: Instant,
    pub(super) next_ckpt_t: Option<i64>,
    /// A checkpoint is due (made by [`Encoder::commit`]).
    pub(super) ckpt_due: bool,
    pub(super) on_close: Option<OnClose>,
    pub(super) delay: Option<Duration>,
    pub(super) closed_bytes: u64,
    pub(super) closed_blocks: u64,
    pub(super) failed: bool,
    /// Counted locally, published once per batch ([`Encoder::publish_counts`]).
    pub(super) n_written: u64,
    pub(super) n_gaps: u64,
    pub(super) n_lost: u64,
    /// Clock records (see [`CLOCK_LABEL`]), when this recorder writes them.
    pub(super) clock: Option<ClockRecords>,
}

pub(super) fn part_path(pattern: &Path, part: u32, rotating: bool) -> PathBuf {
    if !rotating {
        return pattern.to_path_buf();
    }
    PathBuf::from(pattern.to_string_lossy().replace("{n}", &format!("{part:04}")))
}

impl Encoder {
    pub(super) fn open_next(&mut self) -> Result<()> {
        let rotating = self.rotate_every_ns.is_some() || self.rotate_bytes.is_some();
        let path = part_path(&self.pattern, self.part, rotating);
        let mut opts = self.opts_writer.clone();
        if rotating {
            // Each part says which part it is.
            let mut meta: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&opts.metadata).unwrap_or_default();
            meta.insert("part".into(), serde_json::Value::from(self.part));
            opts.metadata = serde_json::Value::Object(meta).to_string();
        }
        let w = if self.tail { Writer::create_with_tail(&path, opts)? } else { Writer::create(&path, opts)? };
        self.writer = Some(w);
        self.cur_path = path;
        self.file_t0 = None;
        self.shared.enc.files.fetch_add(1, Relaxed);
        if self.part > 0 {
            if let Some(c) = self.clock.as_mut() {
                c.last_t = i64::MIN; // each part carries its own record (it may be read alone)
            }
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            let st = w.close()?;
            self.closed_bytes += st.bytes;
            self.closed_blocks += st.blocks;
            self.publish_sizes(None);
            if let Some(cb) = self.on_close.as_mut() {
                cb(&self.cur_path);
            }
        }
        Ok(())
    }

    pub(super) fn publish_sizes(&self, w: Option<&Writer<std::io::BufWriter<std::fs::File>>>) {
        let (b, k) = w.map_or((0, 0), |w| (w.bytes_written(), w.stats().blocks));
        self.shared.enc.bytes.store(self.closed_bytes + b, Relaxed);
        self.shared.enc.blocks.store(self.closed_blocks + k, Relaxed);
    }

    fn publish_counts(&self) {
        let c = &self.shared.enc;
        c.written.store(self.n_written, Relaxed);
        c.gaps.store(self.n_gaps, Relaxed);
        c.lost.store(self.n_lost, Relaxed);
    }

    fn fail(&mut self, e: &Error) {
        if let Ok(mut g) = self.shared.error.lock() {
            g.get_or_insert_with(|| e.to_string());
        }
        self.shared.failed.store(true, SeqCst);
        self.failed = true;
        self.writer = None; // drop: best-effort close of what is there
    }

    /// Write one event, rotating first if it is due.
    fn write(&mut self, t: i64, ev: &Event, internal: bool) -> Result<()> {
        if self.failed {
            if !internal {
                self.n_lost += 1;
            }
            return Ok(());
        }
        if let Some(every) = self.rotate_every_ns {
            if self.file_t0.is_some_and(|t0| t.saturating_sub(t0) >= every) {
                self.close_current()?;
                self.part += 1;
                self.open_next()?;
                // (a clock record that rotated is itself the part's first event)
                if !(internal && matches!(ev, Event::Marker { .. })) {
                    self.clock_record_at(t)?;
                }
            }
        }
        if self.shared.clock == Clock::Event {
            self.tick(t);
        }
        if self.file_t0.is_none() {
            self.file_t0 = Some(t);
        }
        let w = self.writer.as_mut().expect("a file is open");
        let blocks = w.stats().blocks;
        w.push(t, ev)?;
        match (internal, ev) {
            (true, Event::Marker { .. }) => {} // a clock record: not an event of the caller's, nor a gap
            (true, _) => self.n_gaps += 1,
            (false, _) => self.n_written += 1,
        }
        if w.stats().blocks != blocks {
            self.after_block()?;
        }
        self.bound_unsaved()
    }

    /// Write a clock record if one is due: the offset of the wall clock to the recording clock
    /// has moved by [`CLOCK_JUMP_NS`] (a suspend, a clock step), or `every_ns` has passed.
    fn clock_check(&mut self) -> Result<()> {
        let Some(c) = self.clock.as_ref() else { return Ok(()) };
        // While paused nothing but the pause's gap is written; a move of the clocks during the
        // pause is recorded at the first check after it.
        if self.failed || self.shared.paused.load(SeqCst) {
            return Ok(());
        }
        let (t, wall) = clock_pair(self.shared.t0, c.wall_now);
        let offset = wall.wrapping_sub(t);
        let moved = offset.wrapping_sub(c.offset).unsigned_abs() >= CLOCK_JUMP_NS as u64;
        if !moved && c.last_t != i64::MIN && t.saturating_sub(c.last_t) < c.every_ns {
            return Ok(());
        }
        if let Some(c) = self.clock.as_mut() {
            c.offset = offset;
            c.last_t = t;
        }
        self.write(t, &Event::Marker { label: CLOCK_LABEL.into(), value: Some(wall) }, true)
    }

    /// A clock record at `t` now, as the first event of a part that a rotation just opened:
    /// each part may be read alone, and a part closed before the encoder's next clock check
    /// (a recorder closed right after a rotation) would otherwise hold none. The record is
    /// stamped with the event's `t` (the wall clock at `t` by the offset measured now), so the
    /// part's stamps stay in order.
    fn clock_record_at(&mut self, t: i64) -> Result<()> {
        let Some(c) = self.clock.as_ref() else { return Ok(()) };
        if self.failed || self.shared.paused.load(SeqCst) {
            return Ok(()); // the first check after the resume writes it (`last_t` is MIN)
        }
        let (now, wall) = clock_pair(self.shared.t0, c.wall_now);
        let offset = wall.wrapping_sub(now);
        if let Some(c) = self.clock.as_mut() {
            c.offset = offset;
            c.last_t = t;
        }
        self.write(t, &Event::Marker { label: CLOCK_LABEL.into(), value: Some(t.wrapping_add(offset)) }, true)
    }

    /// The event clock at `t`: a checkpoint falls due at the first event at or past the due
    /// time (set `flush_interval` after the first event and after each due event).
    #[inline]
    fn tick(&mut self, t: i64) {
        match self.next_ckpt_t {
            None => self.next_ckpt_t = Some(t.saturating_add(self.flush_interval_ns)),
            Some(n) if t >= n => {
                self.ckpt_due = true;
                self.next_ckpt_t = Some(t.saturating_add(self.flush_interval_ns));
            }
            _ => {}
        }
    }

    /// A due checkpoint is made when the drained batch is done ([`Encoder::commit`]), or at
    /// once when [`MAX_UNSAVED`] events would otherwise wait for it.
    fn bound_unsaved(&mut self) -> Result<()> {
        if self.ckpt_due && self.writer.as_ref().is_some_and(|w| w.unsaved_events() >= MAX_UNSAVED) {
            self.commit()?;
        }
        Ok(())
    }

    fn write_table(&mut self, table: &EventTable) -> Result<()> {
        if self.failed {
            self.n_lost += table.len() as u64;
            return Ok(());
        }
        let before = self.n_written;
        let r = if self.rotate_every_ns.is_some() || self.rotate_bytes.is_some() {
            // Row by row through the same path as single events, so rotation falls exactly
            // where it would for a live capture.
            table.events().try_for_each(|(t, ev)| self.write(t, &ev, false))
        } else {
            // Column by column, in slices (see `write_rows`): blocks and checkpoints fall where
            // row-by-row writes would put them, at a fraction of the cost per row.
            self.write_rows(table)
        };
        if r.is_err() {
            // The rows not handed to the writer before the error never reach a file: count them.
            self.n_lost += table.len() as u64 - (self.n_written - before);
        }
        r
    }

    /// [`Encoder::write_table`]'s column-wise path.
    fn write_rows(&mut self, table: &EventTable) -> Result<()> {
        table.validate()?;
        let n = table.len();
        let mut kind_pos = [0usize; NUM_KINDS];
        let mut i = 0;
        while i < n {
            // Slices of at most MAX_UNSAVED rows, so that a due checkpoint is never further away.
            let j = (i + MAX_UNSAVED).min(n);
            if self.shared.clock == Clock::Event {
                for &t in &table.t[i..j] {
                    self.tick(t);
                }
            }
            if self.file_t0.is_none() {
                self.file_t0 = Some(table.t[i]);
            }
            let w = self.writer.as_mut().expect("a file is open");
            let blocks = w.stats().blocks;
            w.write_rows(table, i, j, &mut kind_pos)?;
            self.n_written += (j - i) as u64;
            i = j;
            if w.stats().blocks != blocks {
                self.after_block()?;
            }
            self.bound_unsaved()?;
        }
        Ok(())
    }

    fn after_block(&mut self) -> Result<()> {
        let w = self.writer.as_ref().expect("a file is open");
        self.publish_sizes(Some(w));
        if self.rotate_bytes.is_some_and(|b| w.bytes_written() >= b) {
            self.close_current()?;
            self.part += 1;
            self.open_next()?;
        }
        Ok(())
    }

    /// Make the due checkpoint, if any: the open block's events not yet in the tail go to it in
    /// one record (one write, and one fsync under [`SyncPolicy::Interval`]).
    fn commit(&mut self) -> Result<()> {
        if !self.ckpt_due {
            return Ok(());
        }
        self.ckpt_due = false;
        self.last_ckpt = Instant::now();
        if let Some(w) = self.writer.as_mut() {
            w.checkpoint()?;
        }
        Ok(())
    }

    /// Handle the messages in `buf` (whole messages only; see `drain`).
    fn process(&mut self, buf: &[Rec]) -> Result<()> {
        let mut i = 0;
        while i < buf.len() {
            let n = msg_len(&buf[i]);
            let msg = &buf[i..i + n];
            i += n;
            if msg[0][5] & 0xFF == KIND_BATCH {
                let seq = msg[0][1];
                let table = {
                    let mut q = self.shared.batches.lock().map_err(|_| Error::Usage("batch queue poisoned".into()))?;
                    let pos = q.iter().position(|(s, _)| *s == seq);
                    pos.and_then(|p| q.remove(p)).map(|(_, t)| t)
                };
                if let Some(table) = table {
                    self.shared.batch_backlog.fetch_sub(table.len() as u64, Relaxed);
                    if let Err(e) = self.write_table(&table) {
                        self.fail(&e); // the rest of the messages are counted as lost
                    }
                }
                continue;
            }
            let (t, ev, internal) = from_slots(msg);
            let before = self.n_written;
            if let Err(e) = self.write(t, &ev, internal) {
                self.fail(&e);
                if !internal && self.n_written == before {
                    self.n_lost += 1; // not handed to the writer, and not yet counted
                }
            }
        }
        Ok(())
    }

    /// Pop up to `max` slots, completing a message cut by the limit (its continuation slots are
    /// published before its head, so they are there).
    fn drain(&mut self, buf: &mut Vec<Rec>, max: usize) -> usize {
        buf.clear();
        let hw = self.cons.len() as u64;
        if hw > self.shared.enc.high_water.load(Relaxed) {
            self.shared.enc.high_water.store(hw, Relaxed);
        }
        self.cons.drain(buf, max);
        let mut i = 0;
        while i < buf.len() {
            i += msg_len(&buf[i]);
        }
        while buf.len() < i {
            match self.cons.pop() {
                Some(r) => buf.push(r),
                None => std::hint::spin_loop(),
            }
        }
        buf.len()
    }

    pub(super) fn run(mut self) -> Result<()> {
        let mut buf: Vec<Rec> = Vec::with_capacity(8192);
        let interval = Duration::from_nanos(self.flush_interval_ns.max(0) as u64);
        loop {
            let stop = self.shared.stop.load(SeqCst);
            let flush_req = self.shared.flush_req.load(SeqCst);
            let n = self.drain(&mut buf, 8192);
            if n > 0 {
                // A close requested before this drain writes these events into the file right
                // after: the due checkpoint would be deleted unread, so it is skipped.
                let r = self.process(&buf).and_then(|()| if stop { Ok(()) } else { self.commit() });
                self.step(r);
                self.publish_counts();
                if let Some(d) = self.delay {
                    std::thread::sleep(d);
                }
            }
            if self.last_ckpt.elapsed() >= interval {
                if self.shared.clock == Clock::Monotonic {
                    let r = self.clock_check();
                    self.step(r);
                    let r = self.write_runs();
                    self.step(r);
                    self.ckpt_due = true;
                } else if self.writer.as_ref().is_some_and(|w| w.unsaved_events() > 0) {
                    // The event clock stopped (input ended, a replay paused): the events that
                    // arrived still go to the tail within the interval of wall time. Only the
                    // tail sees this; the file's blocks still follow the events alone.
                    self.ckpt_due = true;
                } else {
                    self.last_ckpt = Instant::now();
                }
                let r = self.commit();
                self.step(r);
            }
            if n == 0 && flush_req > self.shared.flush_done.load(SeqCst) {
                // Everything pushed before the request has been drained: make it durable.
                self.ckpt_due = true;
                let r = self.commit();
                self.step(r);
                self.shared.flush_done.store(flush_req, SeqCst);
            }
            if stop && n == 0 {
                break;
            }
            if n == 0 {
                // Idle: wait for the next checkpoint or 1 ms, whichever is first; `extend`,
                // `flush` and `close` unpark the thread (single pushes do not: a push makes no
                // system call).
                let wait = interval.saturating_sub(self.last_ckpt.elapsed()).min(Duration::from_millis(1));
                std::thread::park_timeout(wait.max(Duration::from_micros(50)));
            }
        }
        // Close: refuse new pushes, take everything pushed before, report pending drops and an
        // open pause, and close the file.
        self.cons.close();
        buf.clear();
        self.cons.drain_closed(&mut buf);
        let r = self.process(&buf);
        self.step(r);
        let r = self.write_runs();
        self.step(r);
        if self.shared.paused.swap(false, SeqCst) {
            let n = self.shared.pause_count.swap(0, SeqCst);
            let t0 = self.shared.pause_t0.load(SeqCst);
            let t_end = match self.shared.clock {
                Clock::Monotonic => now_ns().wrapping_sub(self.shared.t0),
                Clock::Event => t0,
            };
            let r = self.write(t0, &Event::Gap { count: n, reason: gap_reason::PAUSED, t_end: Some(t_end) }, true);
            self.step(r);
        }
        if !self.failed {
            let r = self.close_current();
            self.step(r);
        }
        self.publish_counts();
        match self.shared.error.lock().ok().and_then(|g| g.clone()) {
            Some(e) => Err(Error::Io(std::io::Error::other(e))),
            None => Ok(()),
        }
    }

    /// Write the gaps of every producer's pending runs (drops, events the policy withheld):
    /// at close, and at each timed checkpoint, so that a crash loses no count older than the
    /// flush interval.
    fn write_runs(&mut self) -> Result<()> {
        let producers: Vec<Arc<ProducerState>> = self.shared.producers.lock().map(|v| v.clone()).unwrap_or_default();
        for st in producers {
            for (run, reason) in [(&st.drops, gap_reason::DROPPED), (&st.withheld, gap_reason::REDACTED)] {
                if let Some((n, t0, t1)) = run.take() {
                    self.write(t0, &Event::Gap { count: n, reason, t_end: Some(t1) }, true)?;
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, r: Result<()>) {
        if let Err(e) = r {
            self.fail(&e);
        }
    }
}
