//! glibc malloc settings for a process that moves many megabyte-sized buffers between threads.
//!
//! By default glibc keeps up to eight arenas per core and, once a large buffer has been freed,
//! serves later large buffers from those arenas instead of mapping them: freed object buffers
//! then stay resident. Measured with the benchmark's 2-task backup of 1 KiB records, peak RSS went
//! from 165 MiB to 113 MiB with two arenas and a fixed 1 MiB mapping threshold, at the same
//! throughput. The same settings given as `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the
//! environment win over these.

/// Applies the settings; call first thing in `main`, before any thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only changes allocator parameters; no thread is running yet.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
        }
    }
}

/// Hands the memory that stopped tasks freed back to the system. glibc keeps freed chunks in
/// its heaps for reuse, so a worker whose large backup has ended went on holding that memory
/// while idle: 115 MiB with no connector left, in `make bench-soak`. Walks every heap under
/// its locks, so it runs off the async runtime, after tasks stop rather than on a timer.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free pages to the kernel; it takes glibc's own locks.
        unsafe { libc::malloc_trim(0) };
    }
}
