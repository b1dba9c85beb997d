//! The promotion path: plan a transition, run the gate, commit it with its decision record,
//! publish it, and read the verified history back.
//!
//! - [`pipeline`]: the one pipeline every command runs through, request → plan → judge →
//!   record → commit → publish; a single promotion is a batch of one;
//! - [`approvals`]: the approvals a request brings (signed ones verified where required);
//! - [`request`]: what a call asks for, validated where it enters, and which (application,
//!   environment) pairs it names (targets, globs, release trains);
//! - [`discover`]: the versions an application's registry offers, and a request's version and
//!   digest taken from there (`versions`, `--latest`);
//! - [`plan`]: which artifact goes where, and the exact file edit (adding the version's place
//!   to an overlay that lacks it, when the location opts in: `overlay`);
//! - [`artifact_set`]: the same for a multi-artifact application, every artifact together;
//! - [`planned`]: the [`planned::Plan`] both planners make, assembled in one place;
//! - [`source`]: which upstream in the environment graph a promotion takes its artifact from, and why;
//! - [`judge`]: every applicable policy run on the transition, and the overall outcome;
//! - [`observe`]: what a policy saw through the host, recorded for offline replay;
//! - [`record`]: the decision record, written into the promotion commit's own tree;
//! - [`claim`]: a commit checked against the records it adds (whether it checks out);
//! - [`tree_diff`]: which files a commit changes, reading only the subtrees that differ;
//! - [`trailers`]: the commit message and its `Tollgate-*` trailers, written from the record;
//! - [`commit`]: the commit, built and checked before the branch moves by compare-and-swap;
//! - [`journal`]: promotions take turns, and one killed midway is finished or undone by the next;
//! - [`worktree`]: the index and files of a checked-out branch, touched only at the changed paths;
//!   a plain index read and written directly (`index_file`: which indexes and paths qualify,
//!   the file mapped and its entries located; `index_lock`: `index.lock`; `index_writer`: the
//!   new index from the bytes read, the touched entries changed, the cache tree invalidated,
//!   hashed on a second thread), any other through libgit2;
//! - [`publish`]: pushing with the user's `git`, re-planning when the remote moved;
//! - [`history`]: the promotions that check out, newest first, with health records;
//! - [`histories`]: each environment's history, read from the branch its location is on;
//! - [`health`]: health records, what `tollgate watch` found after a promotion, and whether
//!   one in a commit checks out;
//! - [`watch`]: `tollgate watch`, waiting for Argo CD to sync and report healthy and for the
//!   soak period to pass without a matching alert, then recording the outcome;
//! - [`verified`]: the one definition of verified (and unsigned, untrusted, unrecorded),
//!   under the rules in force when a commit landed;
//! - [`verify`]: re-checking a promotion commit and re-running its decision;
//! - [`range`]: the commits of `BASE..HEAD`, read the same way by the guard and a proposal check;
//! - [`guard`]: the branch guard, every commit of a range judged as a protected branch would;
//! - [`proposal`]: a proposal's commits judged as the promotions they contain (`check-proposal`,
//!   `POST /v1/check`);
//! - [`workspace`]: an opened repository with its configuration and plugin runtime;
//! - [`status`]: what runs where, and how it got there.

pub mod approvals;
pub mod artifact_set;
pub mod claim;
pub mod commit;
mod index_file;
mod index_lock;
mod index_writer;
#[cfg(test)]
mod index_file_tests;
pub mod judge;
pub mod guard;
pub mod health;
pub mod history;
pub mod histories;
pub mod journal;
pub mod observe;
mod overlay;
pub mod discover;
pub mod pipeline;
pub mod plan;
pub mod planned;
pub mod proposal;
pub mod publish;
pub mod range;
pub mod record;
#[cfg(test)]
mod remembered_tests;
pub mod request;
pub mod source;
pub mod status;
pub mod trailers;
mod tree_diff;
pub mod verified;
pub mod verify;
pub mod watch;
pub mod workspace;
pub mod worktree;
