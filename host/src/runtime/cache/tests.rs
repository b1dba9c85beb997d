//! The compile cache's trust checks, on real directories.

use std::os::unix::fs::PermissionsExt;

use crate::platform::effective_uid;
use super::*;

fn cache_at(root: &Path) -> CompileCache {
    CompileCache::new(root, &Engine::default())
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_new_cache_is_created_0700_with_entries_0600_that_carry_a_checksum() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("a/b/tollgate");
    let cache = cache_at(&root);
    let entry = cache.store("abc", b"compiled code").unwrap();
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&cache.dir), 0o700);
    assert_eq!(mode(&entry), 0o600);
    let bytes = read_entry(&entry).unwrap().unwrap();
    assert_eq!(verified_code(&bytes), Some(&b"compiled code"[..]));
}

#[test]
fn a_corrupted_or_truncated_entry_fails_its_checksum() {
    let temp = tempfile::tempdir().unwrap();
    let cache = cache_at(temp.path());
    let entry = cache.store("abc", b"compiled code that will be overwritten").unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert_eq!(verified_code(&bytes), None, "one flipped bit of code");
    bytes[last] ^= 0x01;
    assert!(verified_code(&bytes).is_some());
    assert_eq!(verified_code(&bytes[..bytes.len() - 3]), None, "truncated");
    assert_eq!(verified_code(b"garbage"), None, "no header");
    // An entry written by an older tollgate (raw wasmtime output, no header) is not trusted.
    assert_eq!(verified_code(b"\x7fELF\x02\x01\x01\x00 rest of an object file"), None);
}

#[test]
fn a_group_or_other_writable_root_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("cache");
    std::fs::create_dir(&root).unwrap();
    for writable in [0o770, 0o707, 0o777] {
        set_mode(&root, writable);
        let error = cache_at(&root).trusted_dir().unwrap_err();
        assert!(error.contains(&format!("has mode {writable:o}; it must not be accessible to group or others")), "{error}");
    }
    set_mode(&root, 0o755);
    assert_eq!(cache_at(&root).trusted_dir(), Ok(()), "a readable but not writable root is fine");
}

#[test]
fn an_engine_directory_readable_by_others_or_an_entry_not_0600_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let cache = cache_at(temp.path());
    let entry = cache.store("abc", b"code").unwrap();
    set_mode(&entry, 0o644);
    let error = read_entry(&entry).unwrap_err();
    assert!(error.contains("has mode 644"), "{error}");
    set_mode(&cache.dir, 0o755);
    let error = cache.trusted_dir().unwrap_err();
    assert!(error.contains("has mode 755"), "{error}");
}

#[test]
fn a_world_writable_ancestor_is_refused_unless_sticky() {
    let temp = tempfile::tempdir().unwrap();
    let shared = temp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o777);
    let root = shared.join("tollgate");
    let error = cache_at(&root).trusted_dir().unwrap_err();
    assert!(error.contains("(above the cache) is writable by group or others"), "{error}");
    // Like /tmp: others can create entries but cannot rename or remove ours.
    set_mode(&shared, 0o1777);
    assert_eq!(cache_at(&root).trusted_dir(), Ok(()));
}

#[test]
fn symlinks_are_never_followed() {
    let temp = tempfile::tempdir().unwrap();
    // The engine directory replaced by a symlink to a directory someone else controls.
    let elsewhere = temp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    set_mode(&elsewhere, 0o700);
    let root = temp.path().join("cache");
    std::fs::create_dir(&root).unwrap();
    set_mode(&root, 0o700);
    let cache = cache_at(&root);
    std::os::unix::fs::symlink(&elsewhere, &cache.dir).unwrap();
    let error = cache.trusted_dir().unwrap_err();
    assert!(error.contains("is a symlink or not a directory"), "{error}");

    // The root itself a symlink.
    let link = temp.path().join("link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let error = cache_at(&link).trusted_dir().unwrap_err();
    assert!(error.contains("is a symlink or not a directory"), "{error}");

    // An entry that is a symlink to a file of the right name elsewhere.
    let good = cache_at(&temp.path().join("good"));
    let real = good.store("real", b"code").unwrap();
    std::os::unix::fs::symlink(&real, good.entry("abc")).unwrap();
    let error = read_entry(&good.entry("abc")).unwrap_err();
    assert!(error.contains("is a symlink"), "{error}");
}

#[test]
fn directories_and_entries_of_another_user_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let cache = cache_at(temp.path());
    let entry = cache.store("abc", b"code").unwrap();
    let other = effective_uid() + 4242;
    let file = File::open(&entry).unwrap();
    let error = check_owner(&entry, &file, other, 0o077, false).unwrap_err();
    assert!(error.contains(&format!("not to this user (uid {other})")), "{error}");
    if effective_uid() == 0 {
        // Running as root (as CI does) the real thing can be staged: chown to a stranger.
        let stranger = 4242;
        std::os::unix::fs::chown(&cache.dir, Some(stranger), None).unwrap();
        let error = cache.trusted_dir().unwrap_err();
        assert!(error.contains("belongs to uid 4242"), "{error}");
        std::os::unix::fs::chown(&cache.dir, Some(0), None).unwrap();
        std::os::unix::fs::chown(&entry, Some(stranger), None).unwrap();
        let error = read_entry(&entry).unwrap_err();
        assert!(error.contains("belongs to uid 4242"), "{error}");
    }
}
