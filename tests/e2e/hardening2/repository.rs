//! Unprotected repository storage: blobs under `refs/tollgate/approvals` are checked from
//! their object headers before they are read.

use std::process::{Command, Stdio};

use crate::budget::tollgate_peak_rss_env;
use crate::support::{git, tollgate};

use super::MIB;

#[test]
fn a_huge_blob_under_the_approvals_ref_is_not_read() {
    // The demo's repository, whose prod requires signed approvals.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("demo").to_str().unwrap().to_string();
    assert_eq!(tollgate(&["demo", &repo]).code, 0);
    // 500 MB of zeros: a few hundred KiB compressed, 500 MB (twice, before the fix) in memory.
    let mut hash = Command::new("git").args(["-C", &repo, "hash-object", "-w", "--stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let zeros = vec![0u8; 1 << 20];
    {
        use std::io::Write;
        let mut stdin = hash.stdin.take().unwrap();
        for _ in 0..500 {
            stdin.write_all(&zeros).unwrap();
        }
    }
    let blob = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    let mut mktree = Command::new("git").args(["-C", &repo, "mktree"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        write!(mktree.stdin.take().unwrap(), "100644 blob {blob}\tbig.approval\n").unwrap();
    }
    let tree = String::from_utf8(mktree.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    let commit = git(&repo, &["commit-tree", "-m", "approvals", &tree]).trim().to_string();
    git(&repo, &["update-ref", "refs/tollgate/approvals", &commit]);
    for args in [&["approvals", "shop-api", "--to", "prod"][..], &["plan", "shop-api", "--to", "prod"]] {
        let mut all = vec!["--repo", repo.as_str()];
        all.extend_from_slice(args);
        let (run, peak) = tollgate_peak_rss_env(&all, &[]);
        assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
        assert!(peak < 400 * MIB, "{args:?}: peak RSS {} MiB", peak / MIB);
    }
}
