//! Reusable float buffers, one pool per thread.
//!
//! Every training batch needs the same large buffers (an LSTM chunk keeps about 1.5 MB of
//! gates and states). Fresh allocations of that size come from the kernel each time: page
//! faults and zeroing on first touch, under a memory lock that two training threads contend
//! for. Taking them from a pool that outlives the batch avoids all of that; rayon's worker
//! threads live as long as the process, and so do their pools.

use std::cell::RefCell;

/// Buffers kept per thread at most (a chunk of training uses fewer than this).
const KEEP: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `len` values, reusing a pooled allocation when one is free.
fn take(len: usize) -> Vec<f32> {
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        // The smallest pooled buffer that is big enough, else the biggest (which grows).
        let fits = (0..pool.len())
            .filter(|&i| pool[i].capacity() >= len)
            .min_by_key(|&i| pool[i].capacity());
        let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
        pick.map(|i| pool.swap_remove(i))
    });
    let mut v = reused.unwrap_or_default();
    v.clear();
    v.reserve(len);
    v
}

/// A buffer of `len` zeros, reusing a pooled allocation when one is free.
pub fn zeros(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.resize(len, 0.0);
    v
}

/// A pooled buffer holding a copy of `values`.
pub fn copy_of(values: &[f32]) -> Vec<f32> {
    let mut v = take(values.len());
    v.extend_from_slice(values);
    v
}

/// Hands a buffer back to this thread's pool.
pub fn recycle(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < KEEP {
            pool.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_buffers_come_back_zeroed_and_sized() {
        let mut a = zeros(1000);
        a.iter_mut().for_each(|v| *v = 7.0);
        let ptr = a.as_ptr();
        recycle(a);
        let b = zeros(500);
        assert_eq!(b.as_ptr(), ptr, "the pooled allocation is reused");
        assert_eq!(b.len(), 500);
        assert!(b.iter().all(|&v| v == 0.0));
        recycle(b);
        let c = zeros(4000);
        assert_eq!(c.len(), 4000);
        assert!(c.iter().all(|&v| v == 0.0));
    }
}
