//! The only module with `unsafe` code: memory-mapping a file for read-only handles.
#![allow(unsafe_code)]

use std::fs::File;

/// Maps `file` read-only.
///
/// The caller must hold a shared `flock` on the file for as long as the map lives. Every
/// cooperating writer (cfdb-kv, Python booklet) takes the exclusive lock before changing the
/// file, so the mapped bytes cannot change or shrink under the map. A process that ignores the
/// lock and truncates the file could still cause SIGBUS; that is the documented limit of mmap.
pub(crate) fn map_read_only(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: see the function doc: the shared flock held by the caller excludes every
    // cooperating writer for the lifetime of the map, so the mapping is not mutated.
    unsafe { memmap2::Mmap::map(file) }
}
