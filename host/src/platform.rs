//! What every layer takes from the machine and shares: the user tollgate acts as, and the size
//! limits that the runtime and the registry both enforce.

/// `read-file` refuses files over this size (and so does every read of the repository made for
/// a policy).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Plugin files over this size are refused before compiling (and registry layers before
/// downloading).
pub const MAX_PLUGIN_BYTES: usize = 64 * 1024 * 1024;

/// The user this process acts as (owner checks of the compile cache and the plugin store).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `64 MiB`, `512 KiB`, `100 bytes`.
pub fn describe_bytes(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}
