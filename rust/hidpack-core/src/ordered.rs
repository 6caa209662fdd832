//! An ordered parallel map with a bounded look-ahead: [`in_order`] (and [`any_order`], its
//! sibling for work whose results need no order).
//!
//! A read decodes blocks on several threads but must hand them on in file order (to append them
//! to its output, or stop at the first error). A pipeline does both at once: worker threads keep
//! decoding the next blocks while the calling thread consumes the results in order, so no thread
//! waits for the slowest item of a wave and the consumer's own work (appending, scattering into
//! columns) overlaps the decoding of what follows.
//!
//! ```text
//!   items:    0 1 2 3 4 5 6 7 8 9 ...
//!             ^consumed   ^claimed        claimed - consumed <= window
//!   workers:  claim the next item while the window has room, run it, park its result in slot
//!             (item % window); wait when the window is full
//!   caller:   takes the result of item `consumed` when it is there, hands it to `sink`; while it
//!             is not there, runs the next unclaimed item itself (it is one of the threads)
//! ```
//!
//! So at most `window` results (finished or running) exist that `sink` has not had, whatever the
//! speeds: the memory a read holds is bounded. `sink` returning `Break`, or panicking, stops the
//! workers: they finish the item they are running (an item is never interrupted) and take no
//! other; the call returns once they have. A panic in `work` is caught on the thread it happened
//! on and resumed on the calling thread when its item's turn comes, after `sink` has had every
//! earlier item, as a one-thread run would. One `Mutex` guards the claim counter, the slots and
//! the stop flag; one `Condvar` wakes whoever waits (the caller for its next result, workers for
//! room): items are whole blocks (a millisecond or more), so one lock per item costs nothing.

use std::ops::ControlFlow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Runs `work(j)` for every `j` in `0..n` on up to `threads` threads (scoped; the calling thread
/// is one of them) and hands each result to `sink` in the order of `j`. At most `window` items
/// (at least `threads`) are running or done and not yet handed to `sink` at any time. `sink`
/// returning `Break` stops the run after that item: no item is started after it, and the results
/// of items already run are dropped. A panic in `work(j)` reaches the caller after `sink` has had
/// items `0..j` (see the module docs).
pub fn in_order<T: Send>(
    n: usize,
    threads: usize,
    window: usize,
    work: impl Fn(usize) -> T + Sync,
    mut sink: impl FnMut(usize, T) -> ControlFlow<()>,
) {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        for j in 0..n {
            if sink(j, work(j)).is_break() {
                return;
            }
        }
        return;
    }
    let pipe = Pipe::new(n, window.max(threads));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| pipe.work_ahead(&work));
        }
        pipe.consume(&work, &mut sink);
    });
}

/// What the threads of one [`in_order`] call share.
struct Pipe<T> {
    n: usize,
    window: usize,
    state: Mutex<State<T>>,
    /// Signalled when a result is parked, room is made, or the run stops.
    changed: Condvar,
}

struct State<T> {
    /// Items `0..claimed` have been started.
    claimed: usize,
    /// `sink` is done with items `0..consumed` (it may be holding item `consumed`).
    consumed: usize,
    /// The result of item `j` (or its panic), in slot `j % window` until it is consumed.
    slots: Vec<Option<std::thread::Result<T>>>,
    stop: bool,
}

impl<T> Pipe<T> {
    fn new(n: usize, window: usize) -> Self {
        let state = State { claimed: 0, consumed: 0, slots: (0..window).map(|_| None).collect(), stop: false };
        Pipe { n, window, state: Mutex::new(state), changed: Condvar::new() }
    }

    /// The lock; no thread panics while holding it (work runs outside it, its panics caught), so
    /// a poisoned lock still holds consistent state.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>> {
        self.changed.wait(st).unwrap_or_else(|e| e.into_inner())
    }

    /// The next item to start, if the run goes on and the window has room for it.
    fn claim(&self, st: &mut State<T>) -> Option<usize> {
        let room = st.claimed < self.n && st.claimed < st.consumed + self.window;
        (!st.stop && room).then(|| {
            st.claimed += 1;
            st.claimed - 1
        })
    }

    /// Runs item `j` with the lock released and parks its result; returns the lock.
    fn run<'a>(&'a self, st: MutexGuard<'a, State<T>>, j: usize, work: &impl Fn(usize) -> T) -> MutexGuard<'a, State<T>> {
        drop(st);
        let out = catch_unwind(AssertUnwindSafe(|| work(j)));
        let mut st = self.lock();
        st.slots[j % self.window] = Some(out);
        self.changed.notify_all();
        st
    }

    /// A worker: runs items while there are any and room for them, until the run stops.
    fn work_ahead(&self, work: &impl Fn(usize) -> T) {
        let mut st = self.lock();
        while !st.stop && st.claimed < self.n {
            st = match self.claim(&mut st) {
                Some(j) => self.run(st, j, work),
                None => self.wait(st),
            };
        }
    }

    /// The caller: hands the results to `sink` in order; stops the workers however it ends.
    fn consume(&self, work: &impl Fn(usize) -> T, sink: &mut impl FnMut(usize, T) -> ControlFlow<()>) {
        let _stop = StopOnDrop(self);
        for j in 0..self.n {
            match self.next_result(j, work) {
                Ok(t) => {
                    if sink(j, t).is_break() {
                        return;
                    }
                }
                Err(panic) => resume_unwind(panic),
            }
        }
    }

    /// The result of item `j`, `sink` being done with every earlier one: taken when parked;
    /// until then the caller runs items itself, or waits when none can start (`j` is then
    /// running on a worker: were it unclaimed, `claimed <= j < consumed + window` would let the
    /// caller claim it).
    fn next_result(&self, j: usize, work: &impl Fn(usize) -> T) -> std::thread::Result<T> {
        let mut st = self.lock();
        if j > 0 {
            st.consumed = j; // `sink` is done with item j - 1: room for one more item
            self.changed.notify_all();
        }
        loop {
            if let Some(out) = st.slots[j % self.window].take() {
                return out;
            }
            st = match self.claim(&mut st) {
                Some(k) => self.run(st, k, work),
                None => self.wait(st),
            };
        }
    }
}

/// Stops the run when the caller leaves [`Pipe::consume`], by return or by unwinding (a panic in
/// `sink` or a resumed one from `work`), so that no worker waits for room forever.
struct StopOnDrop<'a, T>(&'a Pipe<T>);

impl<T> Drop for StopOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.lock().stop = true;
        self.0.changed.notify_all();
    }
}

/// Runs `work(j)` for every `j` in `0..n` on up to `threads` threads (scoped; the calling thread
/// is one of them), each thread claiming the next item as it finishes one, in no particular
/// order; returns the results in the order of `j`, or `None` as soon as one item returned
/// `None` (no item is started after that; those running finish).
///
/// For work whose results need no order and hold little (a placed read's blocks, each writing
/// its own slice of the output): nothing waits for a slow item, where [`in_order`]'s window
/// makes a thread that is ahead wait for an item a descheduled thread holds (on a loaded
/// machine, one thread can be off its CPU for several blocks' time). A panic in `work` reaches
/// the caller once every thread has stopped.
pub fn any_order<T: Send>(n: usize, threads: usize, work: impl Fn(usize) -> Option<T> + Sync) -> Option<Vec<T>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // one thread's items: (j, result); stops every thread when it ends early (None or a panic)
    let run = || -> Vec<(usize, T)> {
        struct StopUnlessDone<'a>(&'a AtomicBool, bool);
        impl Drop for StopUnlessDone<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.store(true, Relaxed);
                }
            }
        }
        let mut guard = StopUnlessDone(&stop, false);
        let mut mine = Vec::new();
        while !stop.load(Relaxed) {
            let j = next.fetch_add(1, Relaxed);
            if j >= n {
                guard.1 = true;
                break;
            }
            match work(j) {
                Some(t) => mine.push((j, t)),
                None => return mine, // the guard stops the others
            }
        }
        mine
    };
    let threads = threads.clamp(1, n.max(1));
    let mut all = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(run)).collect();
        let mut all = run();
        for h in others {
            match h.join() {
                Ok(v) => all.extend(v),
                Err(panic) => resume_unwind(panic),
            }
        }
        all
    });
    if stop.load(Relaxed) || all.len() != n {
        return None;
    }
    all.sort_unstable_by_key(|(j, _)| *j);
    Some(all.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    /// Every result, in order, for `n` items on `threads` threads.
    fn collect(n: usize, threads: usize, window: usize, work: impl Fn(usize) -> usize + Sync) -> Vec<(usize, usize)> {
        let mut got = Vec::new();
        in_order(n, threads, window, work, |j, r| {
            got.push((j, r));
            ControlFlow::Continue(())
        });
        got
    }

    /// A little spin, longer for some items, so that items finish out of order.
    fn uneven(j: usize) -> usize {
        let spins = if j.is_multiple_of(3) { 20_000 } else { 100 };
        (0..spins).fold(j, |a, i| std::hint::black_box(a ^ i)) ^ (0..spins).fold(0, |a, i| a ^ i)
    }

    #[test]
    fn results_come_in_order_for_any_count() {
        for threads in [1, 2, 3, 8] {
            for n in [0, 1, threads, 2 * threads + 1, 500] {
                let got = collect(n, threads, 2 * threads, uneven);
                assert_eq!(got, (0..n).map(|j| (j, j)).collect::<Vec<_>>(), "n {n}, threads {threads}");
            }
        }
    }

    #[test]
    fn a_window_smaller_than_the_threads_is_widened() {
        assert_eq!(collect(50, 4, 1, uneven), (0..50).map(|j| (j, j)).collect::<Vec<_>>());
    }

    #[test]
    fn break_stops_the_workers() {
        for threads in [2, 4] {
            let started = AtomicUsize::new(0);
            let mut seen = Vec::new();
            in_order(
                10_000,
                threads,
                2 * threads,
                |j| {
                    started.fetch_add(1, SeqCst);
                    uneven(j)
                },
                |j, _| {
                    seen.push(j);
                    if j == 5 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            assert_eq!(seen, (0..=5).collect::<Vec<_>>());
            // items 0..=5, and at most a window beyond the last one consumed
            assert!(started.load(SeqCst) <= 6 + 2 * threads, "{} items started", started.load(SeqCst));
        }
    }

    #[test]
    fn errors_reach_the_sink_in_order() {
        let mut got = Vec::new();
        in_order(
            40,
            3,
            6,
            |j| if j % 7 == 3 { Err(format!("item {j}")) } else { Ok(uneven(j)) },
            |j, r| {
                got.push((j, r));
                ControlFlow::Continue(())
            },
        );
        let want: Vec<_> = (0..40).map(|j| (j, if j % 7 == 3 { Err(format!("item {j}")) } else { Ok(j) })).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_panic_in_work_reaches_the_caller_after_the_earlier_items() {
        for threads in [1, 2, 4] {
            let mut seen = Vec::new();
            let res = catch_unwind(AssertUnwindSafe(|| {
                in_order(
                    100,
                    threads,
                    2 * threads,
                    |j| {
                        assert!(j != 17, "item {j} fails");
                        uneven(j)
                    },
                    |j, _| {
                        seen.push(j);
                        ControlFlow::Continue(())
                    },
                )
            }));
            let msg = res.expect_err("the panic reaches the caller");
            assert_eq!(msg.downcast_ref::<String>().map(String::as_str), Some("item 17 fails"));
            assert_eq!(seen, (0..17).collect::<Vec<_>>(), "threads {threads}");
        }
    }

    #[test]
    fn a_panic_in_sink_stops_the_workers_and_reaches_the_caller() {
        let started = AtomicUsize::new(0);
        let res = catch_unwind(AssertUnwindSafe(|| {
            in_order(
                10_000,
                3,
                6,
                |j| {
                    started.fetch_add(1, SeqCst);
                    uneven(j)
                },
                |j, _| {
                    assert!(j != 9, "sink fails");
                    ControlFlow::Continue(())
                },
            )
        }));
        assert!(res.is_err());
        assert!(started.load(SeqCst) <= 10 + 6);
    }

    #[test]
    fn the_look_ahead_is_bounded_by_the_window() {
        for (threads, window) in [(2, 2), (2, 4), (4, 8), (8, 8)] {
            let (live, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
            in_order(
                300,
                threads,
                window,
                |j| {
                    let now = live.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    uneven(j)
                },
                |j, _| {
                    if j % 10 == 0 {
                        std::thread::sleep(Duration::from_micros(200)); // a slow consumer
                    }
                    live.fetch_sub(1, SeqCst);
                    ControlFlow::Continue(())
                },
            );
            let most = most.load(SeqCst);
            assert!(most <= window, "{most} items in flight, window {window}");
        }
    }

    #[test]
    fn workers_run_ahead_while_the_sink_works() {
        // While `sink` holds item 1, a worker runs items 2..=window (`sink` is done with item 0,
        // so the window has room for item `window`): a run in waves of `window` items would
        // start it only after `sink` had had every item of the first wave.
        let window = 4;
        let started = AtomicUsize::new(0);
        let mut waited = Duration::ZERO;
        in_order(
            20,
            2,
            window,
            |j| {
                if j == window {
                    started.store(1, SeqCst);
                }
                j
            },
            |j, _| {
                if j == 1 {
                    let t = Instant::now();
                    while started.load(SeqCst) == 0 && t.elapsed() < Duration::from_secs(20) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    waited = t.elapsed();
                }
                ControlFlow::Continue(())
            },
        );
        assert_eq!(started.load(SeqCst), 1, "item {window} did not start while item 1 was in sink ({waited:?})");
    }

    #[test]
    fn stress_random_speeds_threads_and_breaks() {
        // A small LCG: uneven item times, thread counts, windows and stop points; every run must
        // return, in order, having started no item a window past the stop.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        for _ in 0..300 {
            let (n, threads) = (rand(60) as usize, 1 + rand(6) as usize);
            let window = threads + rand(2 * threads as u64) as usize;
            let stop_at = (rand(3) == 0).then(|| rand(n.max(1) as u64) as usize);
            let delays: Vec<u64> = (0..n).map(|_| rand(4)).collect();
            let started = AtomicUsize::new(0);
            let mut seen = Vec::new();
            in_order(
                n,
                threads,
                window,
                |j| {
                    started.fetch_add(1, SeqCst);
                    match delays[j] {
                        0 => {}
                        1 => std::thread::yield_now(),
                        d => std::thread::sleep(Duration::from_micros(20 * d)),
                    }
                    j
                },
                |j, r| {
                    assert_eq!(j, r);
                    seen.push(j);
                    if Some(j) == stop_at {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            let last = stop_at.map_or(n, |s| s + 1);
            assert_eq!(seen, (0..last).collect::<Vec<_>>());
            assert!(started.load(SeqCst) <= (last + window).min(n), "n {n} threads {threads} window {window}");
        }
    }

    #[test]
    fn any_order_returns_every_result_by_index_for_any_count() {
        for threads in [1, 2, 3, 8] {
            for n in [0, 1, threads, 2 * threads + 1, 500] {
                let ran = AtomicUsize::new(0);
                let got = any_order(n, threads, |j| {
                    ran.fetch_add(1, SeqCst);
                    Some((j, uneven(j)))
                });
                let want: Vec<(usize, usize)> = (0..n).map(|j| (j, j)).collect();
                assert_eq!(got, Some(want), "n {n} threads {threads}");
                assert_eq!(ran.load(SeqCst), n, "each item runs once");
            }
        }
    }

    #[test]
    fn any_order_stops_at_an_item_that_returns_none() {
        for threads in [1, 2, 3, 8] {
            for fail in [0, 1, 7, 199] {
                let ran = AtomicUsize::new(0);
                let got = any_order(200, threads, |j| {
                    ran.fetch_add(1, SeqCst);
                    (j != fail).then(|| uneven(j))
                });
                assert_eq!(got, None, "threads {threads} fail {fail}");
                if threads == 1 {
                    // one thread takes the items in order: none after the failing one starts
                    assert_eq!(ran.load(SeqCst), fail + 1);
                }
            }
        }
        // a slow first item does not hold the others back (in_order's window of 2 x threads
        // would): item 0 waits until ten others are done
        let done = AtomicUsize::new(0);
        let got = any_order(50, 2, |j| {
            if j == 0 {
                let start = Instant::now();
                while done.load(SeqCst) < 10 && start.elapsed() < Duration::from_secs(20) {
                    std::thread::yield_now();
                }
                assert!(done.load(SeqCst) >= 10, "the other thread went on past the slow item");
            } else {
                done.fetch_add(1, SeqCst);
            }
            Some(j)
        });
        assert_eq!(got, Some((0..50).collect()));
    }

    #[test]
    fn any_order_hands_a_panic_in_work_to_the_caller() {
        for threads in [1, 2, 3] {
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| {
                any_order(300, threads, |j| {
                    ran.fetch_add(1, SeqCst);
                    if j == 5 {
                        panic!("item five");
                    }
                    Some(uneven(j))
                })
            }));
            let msg = r.expect_err("the panic reaches the caller");
            assert_eq!(msg.downcast_ref::<&str>(), Some(&"item five"));
            if threads == 1 {
                assert_eq!(ran.load(SeqCst), 6, "no item after the panic starts");
            }
        }
    }
}
