//! check-config, step 2: every file the configuration resolves to (literal paths and
//! `{app}`/`{env}` templates alike) exists on the tip of its branch and holds a version where the
//! layout says. Each missing file is reported on the line and column of the field it came
//! from (for a template: the template's), with the application, environment and path.

use serde::Serialize;

use super::{CheckReport, CheckedLocation};
use crate::config::{ConfigLocator, Location};
use crate::manifest::{check_image, insert, read_deployed};
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

/// Check every application's locations in every environment it runs in, in environment order:
/// each file exists and holds a version where its layout says, names the configured image
/// (compared as Docker compares names), and the files of one artifact agree — every check
/// `plan` makes that depends on the configuration and the files alone.
pub(super) fn check_locations(workspace: &Workspace, tip: &Tip, locator: &ConfigLocator, report: &mut CheckReport) {
    let config = &workspace.config;
    for (name, application) in &config.applications {
        for env in &config.environments {
            if application.is_multi_artifact() {
                for artifact in application.artifact_list() {
                    let Some(locations) = artifact.environments.get(env.as_str()) else { continue };
                    let what = format!("{name} artifact {}", artifact.name);
                    let held: Vec<(String, String)> = locations
                        .iter()
                        .filter_map(|location| {
                            check_location(workspace, tip, locator, report, (name, Some(artifact.name), env), location, artifact.image, &what).map(|version| (location.file.clone(), version))
                        })
                        .collect();
                    if let Some((first_file, first)) = held.first()
                        && let Some((file, other)) = held.iter().find(|(_, version)| version != first)
                    {
                        let field = ["applications", name, "artifacts", artifact.name];
                        report.error(locator.problem(&field, format!("{what} runs {first} in {first_file} but {other} in {file} ({env}); make its files agree")));
                    }
                }
            } else if let Some(location) = application.environments.get(env) {
                check_location(workspace, tip, locator, report, (name, None, env), location, &application.image, name);
            }
        }
    }
}

/// Check one location of `what` (an application, or one of its artifacts) holding `image`;
/// the version it holds, when it holds one.
#[allow(clippy::too_many_arguments)]
fn check_location(
    workspace: &Workspace,
    tip: &Tip,
    locator: &ConfigLocator,
    report: &mut CheckReport,
    (name, artifact, env): (&String, Option<&str>, &String),
    location: &Location,
    image: &str,
    what: &str,
) -> Option<String> {
    // Where the location was written: an artifact's locations are under its name.
    let fallback: Vec<&str> = match artifact {
        Some(artifact) => vec!["applications", name, "artifacts", artifact, "environments", env],
        None => vec!["applications", name, "environments", env],
    };
    // A location on an environment branch of its own is read from that branch's tip.
    let own_tip;
    let tip = if !workspace.config.on_environment_branch(location) {
        tip
    } else {
        match crate::promotion::plan::location_tip(&workspace.repo, location) {
            Ok(found) => {
                own_tip = found;
                &own_tip
            }
            Err(message) => {
                let branch_path = if location.origin.branch.is_empty() { [&fallback[..], &["branch"]].concat() } else { location.origin.branch.iter().map(String::as_str).collect() };
                report.error(locator.problem(&branch_path, message));
                return None;
            }
        }
    };
    let short = &tip.commit.to_string()[..12];
    let file_path = if location.origin.file.is_empty() { [&fallback[..], &["file"]].concat() } else { location.origin.file_path() };
    let layout_path = || {
        if !location.origin.layout.is_empty() {
            return location.origin.layout_path();
        }
        let layout = crate::config::kinds::layout_key(location).unwrap_or("manifest");
        [&fallback[..], &[layout]].concat()
    };
    match workspace.repo.read_file(tip.tree, &location.file) {
        Err(error) => report.error(locator.problem(&file_path, format!("{}: {}", location.file, error.0))),
        Ok(None) => {
            let from_template = location.origin.from_defaults();
            let advice = if from_template {
                format!("({name} in {env}, from this template); commit the file, fix the template, or add {env} to applications.{name}.skip")
            } else {
                format!("({name} in {env}); fix the path or commit the file")
            };
            let problem = locator.problem(&file_path, format!("{} does not exist on branch {} ({short}) {advice}", location.file, location.branch));
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
            let layout = location.layout(image);
            match read_deployed(&location.file, &content, &layout) {
                Ok(deployed) => {
                    if let Err(message) = check_image(&location.file, &deployed, image, what) {
                        report.error(locator.problem(&layout_path(), message));
                        return None;
                    }
                    report.locations.push(CheckedLocation {
                        application: name.clone(),
                        environment: env.clone(),
                        file: location.file.clone(),
                        version: deployed.version.clone(),
                        digest: deployed.digest,
                    });
                    return Some(deployed.version);
                }
                // Opted in: the first promotion adds the key, nothing to report.
                Err(_) if location.inserts_missing() && insert::lacks_target(&content, &layout) => {}
                Err(error) => {
                    let layout_path = layout_path();
                    let message = insert::opt_in_advice(&location.file, &content, &layout, &layout_path.join(".")).unwrap_or(error.0);
                    report.error(locator.problem(&layout_path, message));
                }
            }
        }
    }
    None
}
