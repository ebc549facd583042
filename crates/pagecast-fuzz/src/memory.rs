//! A global allocator that counts, per thread, the bytes held, so a target can check
//! the most memory a decoder held against the bound it promises.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting.
pub struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    // `try_with`: nothing is counted while the thread's locals are torn down.
    let _ = HELD.try_with(|held| {
        let now = held.get().saturating_add(n);
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(n: usize) {
    // Memory freed here may have been allocated on another thread.
    let _ = HELD.try_with(|held| held.set(held.get().saturating_sub(n)));
}

// SAFETY: every call is passed to `System` unchanged; only counters are updated, with
// thread-locals that allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks are held for a moment, as a copying realloc holds them.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

/// Runs `work` and returns its result and the most bytes it held at once beyond what
/// the thread held before.
pub fn peak_during<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let start = HELD.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = work();
    let peak = PEAK.with(Cell::get);
    (out, peak.saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_held_at_once_is_counted_and_what_is_freed_is_not() {
        let ((), peak) = peak_during(|| {
            let a = vec![1u8; 10_000];
            drop(std::hint::black_box(a));
            let b = vec![2u8; 20_000];
            drop(std::hint::black_box(b));
        });
        assert!((20_000..30_000).contains(&peak), "{peak}");
    }
}
