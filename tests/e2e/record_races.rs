//! Many promoters racing to push to one remote: every promotion that exits 0 lands exactly
//! once with its record, at least as many land as the retry rule guarantees, and every one
//! verifies.

use crate::record::{assert_fsck_clean, plain_repo};
use crate::support::{git, tollgate_in};

/// Promote `api` into dev with `version` from `repo` (a clone) and push; the exit code.
fn push_promotion(repo: &str, app: &str, version: &str) -> i32 {
    let run = tollgate_in(repo, &["promote", app, "--to", "dev", "--version", version, "--actor", "ci", "--push"]);
    assert!(run.code == 0 || run.code == 4, "exit {}: {}{}", run.code, run.stdout, run.stderr);
    if run.code == 4 {
        assert!(run.stderr.contains("rejected the push of main 4 times (the branch keeps moving)"), "{}", run.stderr);
    }
    run.code
}

/// The fewest of the 200 racing promotions that must land, whatever the timing: a push is
/// rejected only because another promoter's push landed since its fetch; one landing rejects
/// at most one attempt of each of the 7 other promoters; a promotion gives up (exit 4) only
/// after 4 rejected pushes. So 4 × (200 − landed) ≤ 7 × landed, landed ≥ 800 / 11.
const MIN_LANDED_OF_200: usize = 73;

/// `tollgate verify` exits 0 for each of `commits` in `repo` (two at a time).
fn assert_every_commit_verifies(repo: &str, commits: &[String]) {
    let (first, second) = commits.split_at(commits.len() / 2);
    std::thread::scope(|scope| {
        for half in [first, second] {
            scope.spawn(move || {
                for commit in half {
                    let verify = tollgate_in(repo, &["verify", commit]);
                    assert_eq!(verify.code, 0, "verify {commit}: {}{}", verify.stdout, verify.stderr);
                }
            });
        }
    });
}

#[test]
fn eight_promoters_pushing_two_hundred_promotions_land_each_once_with_its_record() {
    let (dir, source) = plain_repo();
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    // Every clone is made before any promoter pushes: a local clone copies the remote's
    // object directory, and a push under way would hand it a quarantine directory that vanishes.
    let clones: Vec<String> = (0..8)
        .map(|promoter| {
            let clone = dir.path().join(format!("promoter-{promoter}")).to_str().unwrap().to_string();
            crate::support::clone_remote(&remote, &clone, promoter % 2 == 0);
            clone
        })
        .collect();
    let handles: Vec<_> = clones
        .into_iter()
        .enumerate()
        .map(|(promoter, clone)| {
            std::thread::spawn(move || {
                let mut landed = Vec::new();
                for round in 0..25 {
                    // Half the promoters share one application, so they race for one file.
                    let app = if promoter < 4 { "api" } else { "web" };
                    let version = format!("{promoter}.{round}.1"); // never the initial 1.0.0, a no-op
                    if push_promotion(&clone, app, &version) == 0 {
                        landed.push(version);
                    }
                }
                landed
            })
        })
        .collect();
    let landed: Vec<String> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    eprintln!("{} of 200 promotions landed", landed.len());
    assert!(landed.len() >= MIN_LANDED_OF_200, "only {} of 200 promotions landed", landed.len());
    let history: serde_json::Value = serde_json::from_str(&tollgate_in(&remote, &["history", "-o", "json"]).stdout).unwrap();
    let mut recorded: Vec<String> = history["promotions"].as_array().unwrap().iter().map(|p| {
        assert_eq!(p["counts"], true, "{p}");
        p["version"].as_str().unwrap().to_string()
    }).collect();
    let mut expected = landed.clone();
    recorded.sort();
    expected.sort();
    assert_eq!(recorded, expected, "every promotion that exited 0 landed exactly once, and nothing else did");
    let commits: Vec<String> = history["promotions"].as_array().unwrap().iter().map(|p| p["commit"].as_str().unwrap().to_string()).collect();
    assert_eq!(commits.len(), landed.len());
    assert_every_commit_verifies(&remote, &commits);
    assert_fsck_clean(&remote);
}
