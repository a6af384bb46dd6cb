//! Gives back to the kernel what SQLite freed.
//!
//! SQLite is C: it allocates with the C library's `malloc`, not with the
//! collector's allocator (jemalloc, which returns freed pages on its own
//! within seconds). glibc keeps what is freed in its arenas, one per thread
//! that allocated, and returns only the free space at the top of each: a
//! burst of first inventories (large statements, sorts, page-cache churn on
//! every connection's worker thread) left the collector 71 MB larger than
//! what SQLite still used once the burst was applied, 1,000 hosts of 800
//! packages (docs/performance.md). So on SQLite the checkpointer calls
//! [`release_free_memory`] every [`TRIM_INTERVAL`]: glibc's
//! `malloc_trim(0)` hands every whole free page of every arena back
//! (`madvise(MADV_DONTNEED)`), and keeps what is in use; it locks one arena
//! at a time for its walk.

/// How often the checkpointer trims (at its next round after this long).
pub(crate) const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns the C library's free heap pages to the kernel (glibc only; a
/// no-op elsewhere), on a blocking thread.
pub(crate) async fn release_free_memory() {
    // A failed or cancelled trim only leaves memory where it was.
    let _ = tokio::task::spawn_blocking(trim).await;
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: `malloc_trim` takes a byte count to keep at the top of the
    // main arena and no pointer; glibc locks each arena while it walks it,
    // so it is safe to call from any thread while others allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freed_c_heap_pages_go_back_to_the_kernel() {
        // Many small blocks, so glibc keeps them in an arena (not mmap);
        // all but the last are freed, and the last pins the arena's top, so
        // free() alone cannot shrink it.
        // Resident memory is read from /proc: the trim must shrink it.
        let resident = || -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let before = resident();
        let blocks = std::thread::spawn(|| {
            let mut blocks: Vec<*mut libc::c_void> = Vec::new();
            #[allow(unsafe_code)]
            for _ in 0..200_000 {
                // SAFETY: a plain allocation of 512 bytes, written so it is resident.
                let block = unsafe { libc::malloc(512) };
                if !block.is_null() {
                    // SAFETY: `block` is 512 writable bytes.
                    unsafe { std::ptr::write_bytes(block.cast::<u8>(), 1, 512) };
                    blocks.push(block);
                }
            }
            let keep = blocks.pop();
            #[allow(unsafe_code)]
            for block in blocks {
                // SAFETY: each block came from `malloc` above and is freed once.
                unsafe { libc::free(block) };
            }
            keep.map(|block| block as usize)
        })
        .join()
        .ok()
        .flatten();
        let grown = resident();
        release_free_memory().await;
        let after = resident();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(
                grown > before + 50_000 && after + 50_000 < grown,
                "RssAnon before {before} KiB, after the frees {grown} KiB, after the trim {after} KiB"
            );
        }
        #[allow(unsafe_code)]
        if let Some(block) = blocks {
            // SAFETY: the one block kept above, freed once.
            unsafe { libc::free(block as *mut libc::c_void) };
        }
    }
}
