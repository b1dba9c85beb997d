//! A promotion into a file that does not hold the application's version yet (a Helm values
//! overlay inheriting the tag from its base, a Kustomize overlay without an `images:` entry):
//! with `insert: true` on the location the plan adds the place (see
//! [`crate::manifest::insert`]); without it, the error says exactly how to opt in.

use super::request::PlanRequest;
use crate::config::Location;
use crate::manifest::{Deployed, Layout, insert};
use crate::repo::{GitRepo, Tip};

/// When the target file exists but lacks the version's place: with the opt-in, its text and
/// a stand-in for what it holds (nothing: an empty version); without, the error naming the
/// file, the missing key and the YAML to write. `None`: the target has another problem,
/// reported as it was.
pub(super) fn missing_target(
    repo: &GitRepo,
    base: &Tip,
    request: &PlanRequest,
    target: &Location,
    image: &str,
) -> Option<Result<(String, Deployed), String>> {
    let text = repo.read_file(base.tree, &target.file).ok()??;
    let layout = target.layout(image);
    if !insert::lacks_target(&text, &layout) {
        return None;
    }
    if !target.inserts_missing() {
        let field = if target.origin.layout.is_empty() {
            format!("applications.{}.environments.{}", request.app, request.to_env)
        } else {
            target.origin.layout.join(".")
        };
        return insert::opt_in_advice(&target.file, &text, &layout, &field).map(Err);
    }
    let has_digest_field = matches!(&layout, Layout::Helm { digest_path: Some(_), .. });
    Some(Ok((text, Deployed { version: String::new(), digest: None, line: 0, image: None, has_digest_field })))
}
