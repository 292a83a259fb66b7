//! A QuickJS allocator that counts every byte against a budget.
//!
//! QuickJS can crash (SIGSEGV in `build_backtrace`, bellard/quickjs#533) when an allocation
//! fails while it builds the out-of-memory error for a heap that is full: the error object,
//! its shape and its backtrace need memory too. And a script that catches that error in a
//! loop can run for ever once even the "interrupted" error cannot be built (it is then an
//! ordinary, catchable out-of-memory error). So the budget has three levels:
//!
//! - the **limit**: the first allocation that would pass it fails, which makes QuickJS throw
//!   its out-of-memory error, and marks the budget [`Budget::exceeded`];
//! - half of a **reserve** above it, for what QuickJS allocates while it builds and throws
//!   that error (and whatever a script that catches it allocates next);
//! - the other half, opened only by the interrupt handler ([`Budget::interrupt`]) for the
//!   uncatchable "interrupted" error QuickJS builds right after the handler says stop.
//!
//! The sandbox's interrupt handler stops the script at its next poll once the budget is
//! exceeded. Memory is counted as QuickJS sees it: the usable size of each block, the same
//! figure when it is freed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rquickjs::allocator::{Allocator, RustAllocator};

/// What one runtime may use, shared by its allocator and its interrupt handler.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
    reserve: usize,
    exceeded: AtomicBool,
    /// The interrupt handler stopped the script: the whole reserve is open.
    interrupting: AtomicBool,
}

impl Budget {
    /// A budget of `limit` bytes, with `reserve` more for the out-of-memory error itself.
    pub fn new(limit: usize, reserve: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
            reserve,
            exceeded: AtomicBool::new(false),
            interrupting: AtomicBool::new(false),
        })
    }

    /// Bytes in use now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether an allocation was refused at the limit since the last [`Budget::rearm`].
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Starts a new run: the limit counts again from here (call it after a garbage
    /// collection, when the memory of the failed run is back).
    pub fn rearm(&self) {
        self.exceeded.store(false, Ordering::Relaxed);
        self.interrupting.store(false, Ordering::Relaxed);
    }

    /// For the interrupt handler: whether to stop the script because the budget is
    /// exceeded; when so, opens the rest of the reserve for the error QuickJS builds next.
    pub fn interrupt(&self) -> bool {
        let stop = self.exceeded();
        if stop {
            self.interrupting.store(true, Ordering::Relaxed);
        }
        stop
    }

    /// Takes `bytes` from the budget, or refuses them.
    fn take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(after) = used.checked_add(bytes) else {
                return false;
            };
            let ceiling = if self.interrupting.load(Ordering::Relaxed) {
                self.limit.saturating_add(self.reserve)
            } else if self.exceeded() {
                self.limit.saturating_add(self.reserve / 2)
            } else {
                self.limit
            };
            if after > ceiling {
                self.exceeded.store(true, Ordering::Relaxed);
                return false;
            }
            match self
                .used
                .compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What [`RustAllocator`] reserves for `size` bytes (it rounds up to 8): the figure its
/// `usable_size` reports for the block afterwards.
fn block_size(size: usize) -> Option<usize> {
    size.checked_add(7).map(|s| s / 8 * 8)
}

/// The allocator: [`RustAllocator`] (Rust's global allocator), counted against a [`Budget`].
pub struct BudgetAllocator {
    inner: RustAllocator,
    budget: Arc<Budget>,
}

impl BudgetAllocator {
    pub fn new(budget: Arc<Budget>) -> BudgetAllocator {
        BudgetAllocator {
            inner: RustAllocator,
            budget,
        }
    }
}

// SAFETY: every block comes from RustAllocator and is returned to it unchanged, so its
// guarantees (null or a block of at least the size asked, aligned to 8 = size of usize here,
// usable_size as allocated) hold; the budget only decides whether to ask it at all.
unsafe impl Allocator for BudgetAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let Some(bytes) = block_size(size) else {
            return std::ptr::null_mut();
        };
        if !self.budget.take(bytes) {
            return std::ptr::null_mut();
        }
        let block = self.inner.alloc(size);
        if block.is_null() {
            self.budget.give(bytes);
        }
        block
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(bytes) = count.checked_mul(size).and_then(block_size) else {
            return std::ptr::null_mut();
        };
        if bytes == 0 {
            // As RustAllocator (and calloc may): nothing to allocate.
            return std::ptr::null_mut();
        }
        if !self.budget.take(bytes) {
            return std::ptr::null_mut();
        }
        let block = self.inner.calloc(count, size);
        if block.is_null() {
            self.budget.give(bytes);
        }
        block
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller passes a live block of this allocator (the trait's contract).
        let bytes = unsafe { RustAllocator::usable_size(ptr) };
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr) };
        self.budget.give(bytes);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // SAFETY: a live block of this allocator (the trait's contract).
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        // SAFETY: a live block of this allocator (the trait's contract).
        let old = unsafe { RustAllocator::usable_size(ptr) };
        let Some(new) = block_size(new_size) else {
            return std::ptr::null_mut();
        };
        if new > old && !self.budget.take(new - old) {
            // QuickJS keeps the old block when a realloc fails.
            return std::ptr::null_mut();
        }
        // SAFETY: a live block of this allocator; on failure it is left as it was.
        let block = unsafe { self.inner.realloc(ptr, new_size) };
        if block.is_null() {
            if new > old {
                self.budget.give(new - old);
            }
        } else if new < old {
            self.budget.give(old - new);
        }
        block
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: a live block of this allocator (the trait's contract).
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_counted_until_freed() {
        let budget = Budget::new(1 << 20, 0);
        let mut a = BudgetAllocator::new(budget.clone());
        let p = a.alloc(100);
        assert!(!p.is_null());
        assert_eq!(budget.used(), 104);
        // SAFETY: p is a live block of `a`.
        let q = unsafe { a.realloc(p, 1000) };
        assert!(!q.is_null());
        assert_eq!(budget.used(), 1000);
        // SAFETY: q is a live block of `a`.
        let r = unsafe { a.realloc(q, 10) };
        assert_eq!(budget.used(), 16);
        // SAFETY: r is a live block of `a`.
        unsafe { a.dealloc(r) };
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn the_limit_refuses_once_then_the_reserve_serves_the_errors() {
        let budget = Budget::new(1000, 400);
        let mut a = BudgetAllocator::new(budget.clone());
        let p = a.alloc(900);
        assert!(!p.is_null() && !budget.exceeded() && !budget.interrupt());
        assert!(a.alloc(200).is_null(), "past the limit");
        assert!(budget.exceeded());
        let e = a.alloc(200);
        assert!(
            !e.is_null(),
            "half the reserve serves the out-of-memory error"
        );
        assert!(a.alloc(200).is_null(), "past limit + half the reserve");
        assert!(budget.interrupt(), "the handler stops an exceeded script");
        let i = a.alloc(200);
        assert!(!i.is_null(), "the other half serves the interrupted error");
        assert!(a.alloc(200).is_null(), "past limit + reserve");
        // SAFETY: live blocks of `a`.
        unsafe {
            a.dealloc(i);
            a.dealloc(e);
            a.dealloc(p);
        }
        budget.rearm();
        assert!(!budget.exceeded() && !budget.interrupt());
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_refused_realloc_keeps_the_block_and_its_count() {
        let budget = Budget::new(1000, 0);
        let mut a = BudgetAllocator::new(budget.clone());
        let p = a.alloc(800);
        // SAFETY: p is a live block of `a`.
        let q = unsafe { a.realloc(p, 2000) };
        assert!(q.is_null());
        assert_eq!(budget.used(), 800);
        // SAFETY: p is still live.
        unsafe { a.dealloc(p) };
        assert_eq!(budget.used(), 0);
    }
}
