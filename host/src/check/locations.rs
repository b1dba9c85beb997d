//! check-config, step 2: every file the configuration resolves to (literal paths and
//! `{app}`/`{env}` templates alike) exists on the branch tip and holds a version where the
//! layout says. Each missing file is reported on the line and column of the field it came
//! from (for a template: the template's), with the application, environment and path.

use serde::Serialize;

use super::{CheckReport, CheckedLocation};
use crate::config::ConfigLocator;
use crate::manifest::{insert, read_deployed};
use crate::promotion::workspace::Workspace;
use crate::repo::Tip;

/// A file a location resolves to that does not exist on the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFile {
    /// Application.
    pub application: String,
    /// Environment.
    pub environment: String,
    /// The resolved repository-relative path.
    pub file: String,
    /// The configuration field it came from, e.g. `defaults.file`.
    pub field: String,
    /// Whether that field is a template shared by several environments (a `defaults`).
    pub from_template: bool,
    /// 1-based line of that field.
    pub line: Option<usize>,
    /// 1-based column of that field.
    pub column: Option<usize>,
}

/// Check every application's location in every environment it runs in, in environment order.
pub(super) fn check_locations(workspace: &Workspace, tip: &Tip, locator: &ConfigLocator, report: &mut CheckReport) {
    let config = &workspace.config;
    let short = &tip.commit.to_string()[..12];
    for (name, application) in &config.applications {
        for env in &config.environments {
            let Some(location) = application.environments.get(env) else { continue };
            let fallback = ["applications", name, "environments", env];
            let file_path = if location.origin.file.is_empty() {
                [&fallback[..], &["file"]].concat()
            } else {
                location.origin.file_path()
            };
            match workspace.repo.read_file(tip.tree, &location.file) {
                Err(error) => report.error(locator.problem(&file_path, format!("{}: {}", location.file, error.0))),
                Ok(None) => {
                    let from_template = location.origin.from_defaults();
                    let advice = if from_template {
                        format!(
                            "({name} in {env}, from this template); commit the file, fix the template, or add {env} to applications.{name}.skip"
                        )
                    } else {
                        format!("({name} in {env}); fix the path or commit the file")
                    };
                    let problem = locator.problem(
                        &file_path,
                        format!("{} does not exist on branch {} ({short}) {advice}", location.file, config.branch),
                    );
                    report.missing_files.push(MissingFile {
                        application: name.clone(),
                        environment: env.clone(),
                        file: location.file.clone(),
                        field: file_path.join("."),
                        from_template,
                        line: problem.line,
                        column: problem.column,
                    });
                    report.error(problem);
                }
                Ok(Some(content)) => {
                    let layout = location.layout(&application.image);
                    match read_deployed(&location.file, &content, &layout) {
                        Ok(deployed) => report.locations.push(CheckedLocation {
                            application: name.clone(),
                            environment: env.clone(),
                            file: location.file.clone(),
                            version: deployed.version,
                            digest: deployed.digest,
                        }),
                        // Opted in: the first promotion adds the key, nothing to report.
                        Err(_) if location.inserts_missing() && insert::lacks_target(&content, &layout) => {}
                        Err(error) => {
                            let layout_path = if location.origin.layout.is_empty() {
                                let layout = if location.helm.is_some() {
                                    "helm"
                                } else if location.kustomize.is_some() {
                                    "kustomize"
                                } else {
                                    "manifest"
                                };
                                [&fallback[..], &[layout]].concat()
                            } else {
                                location.origin.layout_path()
                            };
                            let message = insert::opt_in_advice(&location.file, &content, &layout, &layout_path.join(".")).unwrap_or(error.0);
                            report.error(locator.problem(&layout_path, message));
                        }
                    }
                }
            }
        }
    }
}
