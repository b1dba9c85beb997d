//! The promotion path: plan a transition, run the gate, commit it with its decision record,
//! publish it, and read the verified history back.
//!
//! - [`plan`]: which artifact goes where, and the exact file edit;
//! - [`artifact_set`]: the same for a multi-artifact application, every artifact together;
//! - [`gate`]: every applicable policy run on the transition, and the overall outcome;
//! - [`record`]: the decision record, written into the promotion commit's own tree, and the
//!   check that tells a promotion that counts from one that does not;
//! - [`trailers`]: the commit message and its `Tollgate-*` trailers, written from the record;
//! - [`commit`]: the commit, built and checked before the branch moves by compare-and-swap;
//! - [`push`]: publishing with the user's `git`, re-planning when the remote moved;
//! - [`history`]: the promotions that check out, newest first;
//! - [`verify`]: re-checking a promotion commit and re-running its decision;
//! - [`engine`]: the operations the CLI offers, over the above;
//! - [`batch`]: several transitions in one call (targets, globs, release trains), all or
//!   nothing in one commit.

pub mod artifact_set;
pub mod batch;
pub mod commit;
pub mod engine;
pub mod gate;
pub mod history;
pub mod plan;
pub mod push;
pub mod record;
pub mod trailers;
pub mod verify;
