//! Give freed heap memory back to the operating system.
//!
//! glibc keeps freed pages mapped. Loading a large model at startup (parsing
//! OKR files, reading every KR twice) and bursts of fetches free tens of MiB
//! that would otherwise stay in the daemon's RSS for good; with 10,000 KRs
//! this halves it. Other platforms' allocators return memory themselves.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often freed memory is handed back while running.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(60);

/// At most this many malloc arenas. glibc gives busy threads arenas of
/// their own (up to 8 per core); memory freed in one cannot serve another,
/// so a model loaded on one thread and replaced on another stays mapped
/// twice. Two keep allocation contention low on the runtime's workers.
const MAX_ARENAS: std::ffi::c_int = 2;

/// Call first thing in `main`, before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    const M_ARENA_MAX: std::ffi::c_int = -8;
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    // SAFETY: mallopt only sets an allocator tunable; called before other threads exist.
    unsafe {
        mallopt(M_ARENA_MAX, MAX_ARENAS);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim has no preconditions; it only unmaps free heap pages.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() {}

/// `release_freed_memory` every `TRIM_INTERVAL` until shutdown.
pub async fn trim_loop(shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TRIM_INTERVAL) => {}
            _ = shutdown.cancelled() => break,
        }
        // Off the async workers: a trim walks the heap.
        let _ = tokio::task::spawn_blocking(release_freed_memory).await;
    }
}
