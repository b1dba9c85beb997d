//! # tollgate: a policy gate for GitOps promotions
//!
//! The flow a promotion takes through this crate, one module per step:
//!
//! - [`config`]: `tollgate.yaml`, read from the protected branch, with the environment graph
//!   (upstreams, fan-in, roots, topological order) in [`config::graph`], its defaults and
//!   `{app}`/`{env}` file templates resolved once at load ([`config::templates`]; a location's
//!   `branch` too, for environments kept on branches of their own), multi-artifact
//!   applications ([`config::artifacts`]: each artifact's locations, branch and `discover:`
//!   rule) and artifact kinds (images, Helm charts, Git revisions: [`config::kinds`]);
//! - [`input`]: validation of every string a requester or configuration brings in (identities
//!   without invisible code points, compared NFKC-normalised and case-folded);
//! - [`platform`]: what every layer takes from the machine: the effective user and the size
//!   limits the runtime and the registry share;
//! - [`repo`]: the GitOps repository, read through git2 (what is a function of Git objects
//!   alone, a blob's size, a commit's check, the trust rules, remembered per process and
//!   repository: `repo::memo`);
//! - [`manifest`]: where a version lives in an environment's files (a chart's or Git
//!   revision's too: Chart.yaml dependencies, Argo CD Applications, Flux HelmReleases, kustomize
//!   remote refs), and byte-preserving edits
//!   (including, when a location opts in, adding a missing key: [`manifest::insert`]);
//! - [`transition`]: the proposed change a policy decides on;
//! - [`runtime`]: loads policy plugins (the standard ones from code precompiled at build time;
//!   others as WebAssembly components: regular files only, bounded; compiled code cached only
//!   in a directory no one else can write) and evaluates them in a sandbox with a deadline and
//!   one memory budget per call, on the caller's thread or, for a call that may wait on the
//!   network, on a reused worker thread under a watchdog (long-lived processes take each
//!   call's fresh instance from a pool of reset memory slots; `serve --preinitialise`, for a hot configuration
//!   of a standard plugin, from a snapshot pre-initialised for it), checking everything that comes
//!   back, failing closed on any misbehaviour;
//! - [`credentials`]: secrets the host attaches to a policy's granted HTTP origins, never
//!   shown to the plugin or written anywhere: answers, requests, findings and logs are scanned
//!   for their common encodings ([`credentials::scan`]), and a hit fails the policy closed;
//! - [`decision`]: what one policy said (allow, deny, or failed) and what that means;
//! - [`registry`]: plugins shared through OCI registries (`oci://` references, push, pull over
//!   a small client of its own with every answer bounded and one deadline per operation, the
//!   local store, `tollgate.lock`, and the signature artifacts that carry `plugin sign` signatures),
//!   and for discovery container images' and OCI charts' tags and digests
//!   ([`registry::client::images`]), HTTP chart repositories' `index.yaml`
//!   ([`registry::client::chart_index`]) and Git remotes' tags ([`registry::client::git_tags`]);
//! - [`promotion`]: the one pipeline every command runs through ([`promotion::pipeline`]):
//!   request (a version from the registry, per artifact of a multi-artifact application,
//!   [`promotion::discover`]) → plan (each environment's
//!   file read from the tip of its location's branch, [`promotion::plan::location_tip`]; its
//!   source taken from the environment graph, [`promotion::source`];
//!   multi-artifact applications in [`promotion::artifact_set`]) → judge → record → commit →
//!   publish (on the branch that holds the targets' files: the configured one, or an
//!   environment branch of its own); a single promotion is a batch of one; then history, status
//!   and verify, each environment's read from its location's branch
//!   ([`promotion::histories`]; `status` lists every artifact of a multi-artifact application,
//!   [`promotion::status`]); and after
//!   deploying, `watch` ([`promotion::watch`]: Argo CD's sync and health, an alert-free soak in
//!   Alertmanager) with its outcome committed as a health record ([`promotion::health`]) on
//!   the environment's branch, after the promotion it reports on;
//! - [`fixtures`]: `tollgate plugin test`, running a plugin against a cases file, and `plugin
//!   bench` ([`fixtures::bench`]), the same runs repeated and costed;
//! - [`scaffold`]: `tollgate plugin new`, a new plugin that builds and passes its cases
//!   anywhere: a Rust crate with the SDK this binary carries ([`scaffold::sdk`]), or a
//!   TypeScript project with the JavaScript SDK ([`scaffold::typescript`]);
//! - [`check`]: `tollgate check-config`, validating a configuration without planning;
//! - [`trust`]: SSH signatures checked against Git's allowed_signers: signed approvals,
//!   signed promotion commits and signed plugins;
//! - [`report`]: output for people and machines (text, JSON, JUnit, GitHub, SARIF; `status` as
//!   an aligned matrix, JSON with the graph, or a Mermaid picture, [`report::matrix`]), with all
//!   untrusted text escaped per format ([`report::escape`]);
//! - [`serve`]: `tollgate serve`, the same pipeline over HTTP (plan, promote, status,
//!   history, verify), with tokens, limits, TLS, a mirrored remote repository, Prometheus
//!   metrics and a dashboard;
//! - [`cli`]: the `tollgate` command line, a thin layer over the above: every command and its
//!   `clap` arguments, the trust commands (`approve`, `approvals`, `plugin sign`) and `tollgate
//!   demo`'s promotion story ([`cli::demo`]).
//!
//! Exit codes for every command are in [`exit::ExitCode`].

pub mod check;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod decision;
pub mod exit;
pub mod fixtures;
pub mod input;
pub mod manifest;
pub mod platform;
pub mod promotion;
pub mod registry;
pub mod repo;
pub mod report;
pub mod runtime;
pub mod scaffold;
pub mod serve;
pub mod transition;
pub mod trust;

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "tollgate:policy";
/// The WIT package version this host implements; plugins built for any 0.1.x load (0.1.1
/// added `host.transition-artifacts`; 0.1.2 `host.policy-environments` and
/// `host.report-counted-approvals`; 0.1.3 `host.transition-artifact-kinds`).
pub const WIT_VERSION: &str = "0.1.3";
