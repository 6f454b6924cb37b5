//! Allocator policy for long numeric work.
//!
//! A training step allocates and frees hundreds of megabytes of tensors. By default mimalloc
//! (the binary's global allocator) hands freed memory back to the OS after a short delay, so
//! the next step page-faults it in again and the kernel zeroes every (huge) page: in the
//! LUM bench that was a sixth of the CPU time. Keeping the memory costs nothing but RSS at
//! the level the step needs anyway.

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 option enums).
const MI_OPTION_PURGE_DELAY: i32 = 15;
/// Purge delay meaning "never return freed memory to the OS".
const NEVER: std::ffi::c_long = -1;

unsafe extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Tells mimalloc to keep freed memory for reuse instead of returning it to the OS. Harmless
/// when mimalloc is linked but not the global allocator. Call once, early (the `lumlab`
/// binary at start-up, the bench before its steps).
pub fn keep_freed_memory() {
    // Naming the allocator type keeps the mimalloc library linked into every binary.
    let _ = std::mem::size_of::<mimalloc::MiMalloc>();
    // SAFETY: mi_option_set only stores an integer option; any value is valid for this one.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, NEVER) }
}
