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
    /// Every slot is full: the consumer is behind.
    Full(T),
}

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
    /// Push without blocking; `Err(PushError::Full(value))` when the ring is full.
    #[inline]
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        let s = &*self.shared;
        let mut pos = s.tail.0.load(Ordering::Relaxed);
        loop {
            let slot = &s.slots[pos & s.mask];
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq as isize - pos as isize;
            if diff == 0 {
                match s.tail.0.compare_exchange_weak(pos, pos.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        // SAFETY: the CAS made this producer the only writer of this slot for lap
                        // `pos`; the consumer reads it only after the Release store below.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => {
                        #[cfg(loom)]
                        loom::thread::yield_now();
                        pos = now;
                    }
                }
            } else if diff < 0 {
                return Err(PushError::Full(value));
            } else {
                // Another producer claimed this slot since we read the tail: reload it.
                #[cfg(loom)]
                loom::thread::yield_now();
                pos = s.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
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
        let s = &*self.shared;
        s.tail.0.load(Ordering::Relaxed).wrapping_sub(s.head.0.load(Ordering::Relaxed)).min(s.mask + 1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Drop the values still in the ring (pushed, never popped).
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Relaxed);
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
