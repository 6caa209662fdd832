//! A bounded multi-producer, single-consumer ring of fixed-size slots: the first stage of the
//! capture path (hook callback -> ring -> encoder thread).
//!
//! # Realtime contract
//! [`Producer::push`] never allocates, never locks, makes no syscall and does no I/O. It claims a
//! slot with one compare-and-swap on the shared tail; when the ring is full it returns
//! [`PushError::Full`] at once, handing the value back, so the caller can count the drop. It is
//! lock-free (some producer always makes progress), not wait-free: under contention a producer may
//! retry its CAS while others succeed. [`Consumer::pop`] and [`Consumer::drain`] are for one
//! thread. All memory is allocated in [`channel`]; nothing is allocated afterwards.
//!
//! The algorithm is Dmitry Vyukov's bounded queue: every slot carries a sequence number that says
//! whether it is free for the producer of lap `n` or full for the consumer of lap `n`.
//!
//! Concurrency is checked with loom (`RUSTFLAGS="--cfg loom" cargo test -p hidpack-core --lib
//! --release ring::loom_tests`) and a multi-thread stress test.

use std::mem::MaybeUninit;
use std::sync::Arc;

use sync::{AtomicUsize, Ordering, UnsafeCell};

#[cfg(loom)]
mod sync {
    pub use loom::cell::UnsafeCell;
    pub use loom::sync::atomic::{AtomicUsize, Ordering};
}

#[cfg(not(loom))]
mod sync {
    pub use std::sync::atomic::{AtomicUsize, Ordering};

    /// `std`'s cell with loom's closure API, so the ring's code is the same under both.
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);
    impl<T> UnsafeCell<T> {
        pub fn new(v: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(v))
        }
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Pads a value to its own cache line, so the producers' tail and the consumer's head do not
/// share one.
#[repr(align(128))]
struct Padded<T>(T);

/// One slot per cache line (for the capture record, 56 bytes + the sequence number), so two
/// producers writing neighbouring slots do not share a line.
#[repr(align(64))]
struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Shared<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    tail: Padded<AtomicUsize>,
    head: Padded<AtomicUsize>,
}

// SAFETY: a slot's value is written only by the one producer whose CAS claimed it, and read only
// by the consumer after the producer's Release store of `seq`; `T: Send` is enough to move values
// between those threads.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: all shared access to slot values is ordered by the `seq` protocol.
unsafe impl<T: Send> Sync for Shared<T> {}

/// The value could not be pushed; it is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// Every slot is full (for [`Producer::push_iter`]: fewer free slots than values): the
    /// consumer is behind.
    Full(T),
    /// The consumer closed the ring ([`Consumer::close`]); nothing more will be read.
    Closed(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Closed(v) => v,
        }
    }
}

/// Set in the tail when the consumer has closed the ring. Positions never reach it (2^63 pushes).
const CLOSED: usize = 1 << (usize::BITS - 1);

/// A producer handle. Clone one per producer thread (a hook thread, a Python thread).
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Producer { shared: Arc::clone(&self.shared) }
    }
}

/// The one consumer handle (the encoder thread).
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

/// A ring of at least `capacity` slots (rounded up to a power of two, at least 2).
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|i| Slot { seq: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) })
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let shared = Arc::new(Shared {
        slots,
        mask: cap - 1,
        tail: Padded(AtomicUsize::new(0)),
        head: Padded(AtomicUsize::new(0)),
    });
    (Producer { shared: Arc::clone(&shared) }, Consumer { shared })
}

impl<T: Send> Producer<T> {
    /// Claim `k` (1..=capacity) consecutive slots with one CAS on the tail; returns the position
    /// of the first. `Err(true)`: the ring is closed; `Err(false)`: fewer than `k` slots are free.
    #[inline]
    fn claim(&self, k: usize) -> Result<usize, bool> {
        let s = &*self.shared;
        let mut pos = s.tail.0.load(Ordering::Relaxed);
        loop {
            if pos & CLOSED != 0 {
                return Err(true);
            }
            // The consumer frees slots in order, so if the last slot of the run is free for this
            // lap, all the slots before it are too.
            let last = pos.wrapping_add(k - 1);
            let seq = s.slots[last & s.mask].seq.load(Ordering::Acquire);
            let diff = seq as isize - last as isize;
            if diff == 0 {
                match s.tail.0.compare_exchange_weak(pos, pos.wrapping_add(k), Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Ok(pos),
                    Err(now) => {
                        #[cfg(loom)]
                        loom::thread::yield_now();
                        pos = now;
                    }
                }
            } else if diff < 0 {
                return Err(false);
            } else {
                // Another producer claimed these slots since we read the tail: reload it.
                #[cfg(loom)]
                loom::thread::yield_now();
                pos = s.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Push without blocking; `Err(PushError::Full(value))` when the ring is full.
    #[inline]
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        match self.claim(1) {
            Ok(pos) => {
                let slot = &self.shared.slots[pos & self.shared.mask];
                // SAFETY: the claim made this producer the only writer of this slot for lap
                // `pos`; the consumer reads it only after the Release store below.
                slot.value.with_mut(|p| unsafe { (*p).write(value) });
                slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                Ok(())
            }
            Err(true) => Err(PushError::Closed(value)),
            Err(false) => Err(PushError::Full(value)),
        }
    }

    /// Push every value of `values` into consecutive slots, claimed together with one CAS, or
    /// none of them. The consumer sees the first value only once all are written (the first
    /// slot is published last), so a message spread over several slots (a long string after its
    /// event) is never seen in part. Fails with `Full` when fewer than `values.len()` slots are
    /// free, which is always the case for more values than [`Producer::capacity`].
    pub fn push_iter<I: ExactSizeIterator<Item = T>>(&self, mut values: I) -> Result<(), PushError<I>> {
        let k = values.len();
        if k == 0 {
            return Ok(());
        }
        let s = &*self.shared;
        if k > s.mask + 1 {
            return Err(PushError::Full(values));
        }
        let pos = match self.claim(k) {
            Ok(pos) => pos,
            Err(true) => return Err(PushError::Closed(values)),
            Err(false) => return Err(PushError::Full(values)),
        };
        for i in 0..k {
            let slot = &s.slots[pos.wrapping_add(i) & s.mask];
            let v = values.next().expect("ExactSizeIterator yields len() values");
            // SAFETY: the claim made this producer the only writer of slots pos..pos+k for this
            // lap; the consumer reads each only after its Release store below.
            slot.value.with_mut(|p| unsafe { (*p).write(v) });
        }
        // Publish the continuation slots first and the first slot last.
        for i in (0..k).rev() {
            let p = pos.wrapping_add(i);
            s.slots[p & s.mask].seq.store(p.wrapping_add(1), Ordering::Release);
        }
        Ok(())
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// Values in the ring (a snapshot).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Is the ring empty (a snapshot)?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Has the consumer closed the ring?
    pub fn is_closed(&self) -> bool {
        self.shared.tail.0.load(Ordering::Relaxed) & CLOSED != 0
    }
}

impl<T: Send> Consumer<T> {
    /// Take the oldest value, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let s = &*self.shared;
        let pos = s.head.0.load(Ordering::Relaxed);
        let slot = &s.slots[pos & s.mask];
        let seq = slot.seq.load(Ordering::Acquire);
        if seq != pos.wrapping_add(1) {
            return None; // empty, or the producer that claimed it has not finished writing
        }
        // SAFETY: `seq == pos + 1` was stored with Release by the producer after it wrote the
        // value, and only this (single) consumer reads slot `pos` of this lap.
        let v = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        slot.seq.store(pos.wrapping_add(s.mask + 1), Ordering::Release);
        s.head.0.store(pos.wrapping_add(1), Ordering::Relaxed);
        Some(v)
    }

    /// Pop up to `max` values into `out` (which the caller reuses: no allocation once it has
    /// grown); returns how many were taken.
    pub fn drain(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.pop() {
                Some(v) => {
                    out.push(v);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Values waiting (a snapshot: producers may be adding more).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// Refuse every later push (they fail with [`PushError::Closed`]) and return how many values
    /// are still to be popped: every push that succeeded before the close. A producer may still be
    /// writing a slot it claimed just before; [`Consumer::drain_closed`] waits for those.
    pub fn close(&mut self) -> usize {
        let s = &*self.shared;
        let tail = s.tail.0.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED;
        tail.wrapping_sub(s.head.0.load(Ordering::Relaxed))
    }

    /// After [`Consumer::close`]: pop everything that was pushed before the close into `out`,
    /// waiting (spinning) for slots whose producer is between its claim and its publish. Only
    /// values pushed before the close exist, so this ends.
    pub fn drain_closed(&mut self, out: &mut Vec<T>) -> usize {
        if self.shared.tail.0.load(Ordering::Relaxed) & CLOSED == 0 {
            self.close();
        }
        let end = self.shared.tail.0.load(Ordering::Acquire) & !CLOSED;
        let mut n = 0;
        while self.shared.head.0.load(Ordering::Relaxed) != end {
            match self.pop() {
                Some(v) => {
                    out.push(v);
                    n += 1;
                }
                None => {
                    #[cfg(loom)]
                    loom::thread::yield_now();
                    #[cfg(not(loom))]
                    std::thread::yield_now();
                }
            }
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Shared<T> {
    /// Slots claimed and not yet popped (a snapshot).
    fn len(&self) -> usize {
        (self.tail.0.load(Ordering::Relaxed) & !CLOSED).wrapping_sub(self.head.0.load(Ordering::Relaxed)).min(self.mask + 1)
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Drop the values still in the ring (pushed, never popped).
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Relaxed) & !CLOSED;
        let mut pos = head;
        while pos != tail {
            let slot = &self.slots[pos & self.mask];
            if slot.seq.load(Ordering::Acquire) == pos.wrapping_add(1) {
                // SAFETY: we have exclusive access (last Arc), and this slot holds a value
                // written by a completed push that no pop has taken.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
            pos = pos.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_full_hands_the_value_back() {
        let (p, mut c) = channel::<u32>(4);
        assert_eq!(p.capacity(), 4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(99), Err(PushError::Full(99)));
        assert_eq!(c.len(), 4);
        assert_eq!(c.pop(), Some(0));
        p.push(4).unwrap();
        let mut out = Vec::new();
        assert_eq!(c.drain(&mut out, 10), 4);
        assert_eq!(out, vec![1, 2, 3, 4]);
        assert_eq!(c.pop(), None);
        assert!(c.is_empty());
    }

    #[test]
    fn push_iter_claims_consecutive_slots_or_none() {
        let (p, mut c) = channel::<u32>(8);
        p.push(1).unwrap();
        p.push_iter([10, 11, 12].into_iter()).unwrap();
        // 4 used, 4 free: a run of 5 does not fit and nothing of it is written.
        let e = p.push_iter([20, 21, 22, 23, 24].into_iter()).unwrap_err();
        assert!(matches!(e, PushError::Full(_)));
        assert_eq!(c.len(), 4);
        // a run longer than the ring can never fit
        assert!(matches!(p.push_iter(0..9u32), Err(PushError::Full(_))));
        p.push_iter([20, 21, 22, 23].into_iter()).unwrap();
        let mut out = Vec::new();
        c.drain(&mut out, 100);
        assert_eq!(out, vec![1, 10, 11, 12, 20, 21, 22, 23]);
        // runs wrap around the end of the slot array
        p.push_iter([30, 31, 32, 33, 34, 35].into_iter()).unwrap();
        out.clear();
        c.drain(&mut out, 100);
        assert_eq!(out, vec![30, 31, 32, 33, 34, 35]);
    }

    #[test]
    fn close_refuses_later_pushes_and_keeps_earlier_ones() {
        let (p, mut c) = channel::<u32>(4);
        p.push(1).unwrap();
        p.push(2).unwrap();
        assert!(!p.is_closed());
        assert_eq!(c.close(), 2);
        assert!(p.is_closed());
        assert_eq!(p.push(3), Err(PushError::Closed(3)));
        assert!(matches!(p.push_iter([4, 5].into_iter()), Err(PushError::Closed(_))));
        let mut out = Vec::new();
        assert_eq!(c.drain_closed(&mut out), 2);
        assert_eq!(out, vec![1, 2]);
        assert_eq!(c.len(), 0);
    }

    /// Producers push single values and runs while the consumer closes the ring at some point:
    /// every push that returned Ok is popped exactly once, runs arrive whole and in order, and
    /// nothing is popped that was refused.
    #[test]
    fn stress_runs_and_close() {
        const PRODUCERS: u32 = 3;
        const PER: u32 = if cfg!(miri) { 200 } else { 100_000 };
        let (p, mut c) = channel::<u32>(64);
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|id| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut ok = Vec::new();
                    for i in 0..PER {
                        let base = id << 24 | (i << 2);
                        let r = if i % 3 == 0 {
                            p.push_iter([base, base | 1, base | 2].into_iter()).map_err(|_| ())
                        } else {
                            p.push(base).map_err(|_| ())
                        };
                        if r.is_ok() {
                            ok.push(i);
                        }
                        if p.is_closed() {
                            break;
                        }
                    }
                    ok
                })
            })
            .collect();
        drop(p);
        let mut got: Vec<Vec<u32>> = vec![Vec::new(); PRODUCERS as usize];
        let mut buf = Vec::new();
        let mut popped = 0usize;
        let check = |buf: &mut Vec<u32>, got: &mut Vec<Vec<u32>>| {
            let mut j = 0;
            while j < buf.len() {
                let v = buf[j];
                let (id, i) = ((v >> 24) as usize, (v & 0xFF_FFFF) >> 2);
                if i % 3 == 0 {
                    assert_eq!(&buf[j..j + 3], &[v, v | 1, v | 2], "a run arrived split or out of order");
                    j += 3;
                } else {
                    j += 1;
                }
                got[id].push(i);
            }
            buf.clear();
        };
        // Close while the producers are still pushing (unless they are all done already).
        while popped < PER as usize / 2 && !handles.iter().all(|h| h.is_finished()) {
            // A run's first slot is published last, so a drain that pops it pops the whole run.
            popped += c.drain(&mut buf, usize::MAX);
            check(&mut buf, &mut got);
        }
        c.close();
        c.drain_closed(&mut buf);
        check(&mut buf, &mut got);
        for (id, h) in handles.into_iter().enumerate() {
            let ok = h.join().unwrap();
            assert_eq!(got[id], ok, "producer {id}: popped values differ from the pushes that succeeded");
        }
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_once() {
        let marker = Arc::new(());
        {
            let (p, mut c) = channel::<Arc<()>>(8);
            for _ in 0..5 {
                p.push(Arc::clone(&marker)).unwrap();
            }
            drop(c.pop());
            assert_eq!(Arc::strong_count(&marker), 5);
        }
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    /// Several producers flood a small ring while one consumer drains: every value pushed is
    /// popped exactly once, each producer's values in its own order, and pushed + refused ==
    /// attempted.
    #[test]
    fn stress_many_producers_nothing_lost_or_duplicated() {
        const PRODUCERS: u64 = 4;
        // Miri-scaled: the interpreter is ~10^4 times slower.
        const PER: u64 = if cfg!(miri) { 300 } else { 200_000 };
        let (p, mut c) = channel::<u64>(256);
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|id| {
                let p = p.clone();
                let refused = Arc::clone(&refused);
                std::thread::spawn(move || {
                    for i in 0..PER {
                        if p.push(id << 32 | i).is_err() {
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        drop(p);
        let mut last = vec![None::<u64>; PRODUCERS as usize];
        let mut got = 0u64;
        let mut buf = Vec::with_capacity(64);
        loop {
            buf.clear();
            c.drain(&mut buf, 64);
            for v in &buf {
                let (id, i) = ((v >> 32) as usize, v & 0xFFFF_FFFF);
                assert!(last[id].is_none_or(|l| i > l), "producer {id}: {i} after {:?}", last[id]);
                last[id] = Some(i);
                got += 1;
            }
            if buf.is_empty() && handles.iter().all(|h| h.is_finished()) && c.is_empty() {
                break;
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        while let Some(v) = c.pop() {
            let _ = v;
            got += 1;
        }
        assert_eq!(got + refused.load(std::sync::atomic::Ordering::Relaxed), PRODUCERS * PER);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Two producers and the consumer, every interleaving: each value is popped once, in each
    /// producer's order, and a full ring refuses instead of overwriting.
    #[test]
    fn two_producers_one_consumer() {
        loom::model(|| {
            let (p, mut c) = channel::<u32>(2);
            let p2 = p.clone();
            let t1 = loom::thread::spawn(move || {
                let a = p.push(1).is_ok();
                let b = p.push(2).is_ok();
                (a, b)
            });
            let t2 = loom::thread::spawn(move || p2.push(10).is_ok());
            let mut got = Vec::new();
            if let Some(v) = c.pop() {
                got.push(v);
            }
            let (a, b) = t1.join().unwrap();
            let d = t2.join().unwrap();
            while let Some(v) = c.pop() {
                got.push(v);
            }
            let pushed = [a, b, d].iter().filter(|x| **x).count();
            assert_eq!(got.len(), pushed);
            let ones: Vec<_> = got.iter().filter(|v| **v < 10).collect();
            assert!(ones.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        });
    }

    /// A run of two values and a single value race; the consumer pops while they run: a run is
    /// never seen in part, and popped values are exactly the successful pushes.
    #[test]
    fn run_is_published_whole() {
        loom::model(|| {
            let (p, mut c) = channel::<u32>(4);
            let p2 = p.clone();
            let t1 = loom::thread::spawn(move || p.push_iter([1, 2].into_iter()).is_ok());
            let t2 = loom::thread::spawn(move || p2.push(10).is_ok());
            let mut got = Vec::new();
            if let Some(v) = c.pop() {
                got.push(v);
                if v == 1 {
                    // the rest of the run is already published
                    assert_eq!(c.pop(), Some(2));
                    got.push(2);
                }
            }
            let a = t1.join().unwrap();
            let b = t2.join().unwrap();
            while let Some(v) = c.pop() {
                got.push(v);
            }
            let want = if a { 2 } else { 0 } + usize::from(b);
            assert_eq!(got.len(), want, "{got:?}");
        });
    }

    /// Close races a push: the push either fails with Closed, or its value is drained.
    #[test]
    fn close_races_push() {
        loom::model(|| {
            let (p, mut c) = channel::<u32>(2);
            let t = loom::thread::spawn(move || p.push(5).is_ok());
            c.close();
            let mut out = Vec::new();
            c.drain_closed(&mut out);
            let ok = t.join().unwrap();
            assert_eq!(out.len(), usize::from(ok));
        });
    }

    /// The consumer reads a value while its producer may still be running: the value must be
    /// visible (the `seq` Release/Acquire pair), which loom checks on every cell access.
    #[test]
    fn a_popped_value_is_fully_written() {
        loom::model(|| {
            let (p, mut c) = channel::<Box<u32>>(2);
            let t = loom::thread::spawn(move || {
                let _ = p.push(Box::new(7));
            });
            if let Some(v) = c.pop() {
                assert_eq!(*v, 7);
            }
            t.join().unwrap();
        });
    }
}
