//! `tollgate plugin push`, `plugin pull` and `plugin lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::registry::layout::{self, ComponentInfo};
use crate::registry::{Fetched, LOCK_FILE, LockedPlugin, Lockfile, OciReference};
use crate::config::{CONFIG_FILE, Config};
use crate::exit::Failure;
use crate::report::BasicFormat;
use crate::runtime::{FileSource, Limits, PluginRef, PluginSource, Runtime};
use crate::trust::allowed_signers::AllowedSigners;

/// `tollgate plugin push`'s closing help.
pub const PUSH_HELP: &str = "The artifact follows the CNCF Wasm OCI artifact layout (config application/vnd.wasm.config.v0+json, \
                             one application/wasm layer), annotated with org.opencontainers.image.title, version and description \
                             from the plugin's info(). No wall-clock time goes in (created only from $SOURCE_DATE_EPOCH), so the \
                             same file pushed again gives the same manifest digest. When FILE.wasm.sig (from `tollgate plugin sign`) exists, it is pushed too, \
                             as an application/vnd.tollgate.plugin.signature.v1+sshsig artifact tagged sha256-<manifest hex>.sig. Credentials come from $DOCKER_CONFIG/config.json or ~/.docker/config.json.\n\n\
                             Example:\n  tollgate plugin push target/plugins/wasm32-wasip2/plugin/image_policy.wasm \\\n      \
                             oci://registry.example.com/policies/image-policy:1.0.0 --source https://git.example.com/policies";

/// Arguments of `tollgate plugin push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Path to the .wasm component.
    pub plugin: PathBuf,
    /// Where to push it: oci://REGISTRY/REPOSITORY:TAG.
    pub reference: String,
    /// The plugin's source repository (org.opencontainers.image.source).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

/// Arguments of `tollgate plugin lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Lock a plugin whose policy names `signers:` even when its manifest has no signature by
    /// one of them (with a warning); `plan` and `promote` still refuse it until it is signed.
    #[arg(long)]
    pub allow_unsigned: bool,
}

/// Arguments of `tollgate plugin pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// oci://REGISTRY/REPOSITORY:TAG or …@sha256:DIGEST.
    pub reference: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

/// `tollgate plugin push`: what to print.
pub fn push_command(runtime: &Runtime, args: &PushArgs) -> Result<String, Failure> {
    let reference = parse_reference(&args.reference)?;
    Ok(push(runtime, &args.plugin, &reference, args.source.as_deref())?.render("Pushed", args.output))
}

/// `tollgate plugin pull`: what to print.
pub fn pull_command(runtime: &Runtime, args: &PullArgs) -> Result<String, Failure> {
    let reference = parse_reference(&args.reference)?;
    Ok(pull(runtime, &reference)?.render("Pulled", args.output))
}

/// What `push` and `pull` report.
#[derive(Debug, Serialize)]
pub struct ArtifactReport {
    /// The reference pushed or pulled.
    pub reference: String,
    /// The manifest digest.
    pub manifest_digest: String,
    /// `sha256:HEX` of the component.
    pub component_digest: String,
    /// The reference pinned to the manifest, for tollgate.yaml.
    pub pinned: String,
    /// Where its signature was pushed or pulled from (`…:sha256-<hex>.sig`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Where the local store keeps it (pull only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_in: Option<PathBuf>,
}

impl ArtifactReport {
    /// Text or JSON.
    pub fn render(&self, verb: &str, format: BasicFormat) -> String {
        match format {
            BasicFormat::Json => format!("{}\n", serde_json::to_string_pretty(self).expect("the report serialises")),
            BasicFormat::Text => {
                let mut text = format!(
                    "{verb} {}\n  manifest   {}\n  component  {}\n",
                    self.reference, self.manifest_digest, self.component_digest
                );
                if let Some(signature) = &self.signature {
                    text.push_str(&format!("  signature  {signature}\n"));
                }
                if let Some(dir) = &self.stored_in {
                    text.push_str(&format!("  stored in  {}\n", dir.display()));
                }
                text.push_str(&format!("Pin it in {CONFIG_FILE}:\n  plugin: {}\n", self.pinned));
                text
            }
        }
    }
}

/// Parse an `oci://` command-line argument.
pub fn parse_reference(text: &str) -> Result<OciReference, Failure> {
    OciReference::parse(text).map_err(Failure::bad_input)
}

/// Push the component at `file` to `reference` (which needs a tag) in the Wasm OCI artifact
/// layout, annotated from the plugin's info() and `source`.
pub fn push(runtime: &Runtime, file: &Path, reference: &OciReference, source: Option<&str>) -> Result<ArtifactReport, Failure> {
    if reference.tag.is_none() || reference.digest.is_some() {
        return Err(Failure::bad_input(format!("{reference}: push to a tag, e.g. oci://{}/{}:1.0.0", reference.registry, reference.repository)));
    }
    let plugin_ref = PluginRef { source: PluginSource::File(file.to_path_buf()), sha256: None };
    let plugin = runtime.load(&plugin_ref).map_err(|error| Failure::bad_input(error.message))?;
    let info = plugin
        .info(Limits::default())
        .map_err(|cause| Failure::policy_failed(format!("plugin {}: info failed: {cause}", file.display())))?;
    let component = std::fs::read(file).map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", file.display())))?;
    let mut annotations = BTreeMap::new();
    let mut annotate = |key: &str, value: &str| {
        // Plugin output: keep it printable before it goes into a registry manifest.
        let value: String = value.chars().filter(|c| !c.is_control()).collect();
        if !value.is_empty() {
            annotations.insert(format!("org.opencontainers.image.{key}"), value);
        }
    };
    annotate("title", &info.name);
    annotate("version", &info.version);
    annotate("description", &info.description);
    // No wall-clock time: pushing the same file twice must give the same manifest digest.
    let created = source_date_epoch()?;
    if let Some(created) = created {
        annotate("created", &created.to_string());
    }
    if let Some(source) = source {
        annotate("source", source);
    }
    let (imports, exports) = plugin.interfaces();
    let component_info = ComponentInfo { exports: exports.to_vec(), imports: imports.to_vec() };
    let artifact = layout::artifact(&component, component_info, annotations, created.unwrap_or(jiff::Timestamp::UNIX_EPOCH));
    let client = runtime.registry().client(reference).map_err(Failure::bad_input)?;
    let manifest_digest = client.push(reference, &component, &artifact).map_err(Failure::bad_input)?;
    // A signature from `tollgate plugin sign` travels with it, under the manifest's signature tag.
    let signature_file = crate::trust::plugin_signature::signature_path(file);
    let signature = match std::fs::symlink_metadata(&signature_file) {
        Err(_) => None,
        Ok(meta) if meta.len() > crate::registry::signature::MAX_SIGNATURE_BYTES as u64 => {
            return Err(Failure::bad_input(format!(
                "{}: {} bytes, too large for a plugin signature; sign again with `tollgate plugin sign {}`",
                signature_file.display(),
                meta.len(),
                file.display()
            )));
        }
        Ok(_) => {
            let armored = std::fs::read(&signature_file)
                .map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", signature_file.display())))?;
            // A stale signature (of an older build) would only be refused later, far from here.
            let stale = |why: String| {
                Failure::bad_input(format!(
                    "{}: {why}; sign this build again with `tollgate plugin sign {}`",
                    signature_file.display(),
                    file.display()
                ))
            };
            let parsed = std::str::from_utf8(&armored)
                .map_err(|_| "not text".to_string())
                .and_then(crate::trust::sshsig::parse)
                .map_err(stale)?;
            crate::trust::sshsig::check_signature(&parsed, crate::trust::NAMESPACE_PLUGIN, &component).map_err(stale)?;
            let (target, _) = client.push_signature(reference, &manifest_digest, &armored).map_err(Failure::bad_input)?;
            Some(target.to_string())
        }
    };
    Ok(ArtifactReport {
        signature,
        pinned: reference.pinned(&manifest_digest).to_string(),
        reference: reference.to_string(),
        manifest_digest,
        component_digest: layout::sha256_digest(&component),
        stored_in: None,
    })
}

/// The creation time `SOURCE_DATE_EPOCH` gives (seconds since 1970, the reproducible-builds
/// convention), if it is set and not empty.
fn source_date_epoch() -> Result<Option<jiff::Timestamp>, Failure> {
    let Some(value) = std::env::var_os("SOURCE_DATE_EPOCH").filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    value
        .to_str()
        .filter(|text| text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map(Some)
        .ok_or_else(|| {
            Failure::bad_input(format!(
                "SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970-01-01 UTC; set it to one \
                 (e.g. the last commit's time, `git log -1 --format=%ct`) or unset it"
            ))
        })
}

/// Pull `reference` into the local store.
pub fn pull(runtime: &Runtime, reference: &OciReference) -> Result<ArtifactReport, Failure> {
    let fetched = runtime.registry().pull(reference).map_err(Failure::bad_input)?;
    let resolution = fetched.resolution;
    Ok(ArtifactReport {
        signature: fetched
            .signature
            .found()
            .is_some()
            .then(|| OciReference { tag: Some(OciReference::signature_tag(&resolution.manifest_digest)), digest: None, ..reference.clone() }.to_string()),
        reference: reference.to_string(),
        pinned: reference.pinned(&resolution.manifest_digest).to_string(),
        stored_in: runtime.registry().store().map(|store| store.dir().to_path_buf()),
        manifest_digest: resolution.manifest_digest,
        component_digest: resolution.component_digest,
    })
}

/// Resolve every `oci://` plugin of the configuration file on disk (`config_path`, else
/// tollgate.yaml in the work tree of `repo`) and write tollgate.lock next to it. A plugin
/// whose policy names `signers:` must carry a signature by one of them (checked against the
/// allowed signers next to that tollgate.yaml: the work tree's, or with `--config` the
/// branch tip's, as `plan` reads them), else nothing is written, unless `--allow-unsigned`.
/// Returns the lockfile's path and a summary.
pub fn lock(runtime: &Runtime, repo: &Path, config_path: Option<&Path>, args: &LockArgs) -> Result<(PathBuf, String), Failure> {
    let (config_path, workdir) = match config_path {
        Some(path) => (path.to_path_buf(), None),
        None => {
            let git = crate::repo::GitRepo::open(repo).map_err(|error| Failure::bad_input(error.0))?;
            let workdir = git.workdir().ok_or_else(|| {
                Failure::bad_input(format!("{} is a bare repository: pass --config with the tollgate.yaml to lock", repo.display()))
            })?;
            (workdir.join(CONFIG_FILE), Some(workdir.to_path_buf()))
        }
    };
    let source = config_path.display().to_string();
    let text = std::fs::read_to_string(&config_path).map_err(|error| Failure::bad_input(format!("{source}: cannot read it ({error})")))?;
    let config = Config::parse(&source, &text).map_err(|error| Failure::bad_input(error.0))?;
    let mut lock = Lockfile { version: 1, plugins: Vec::new() };
    let mut summary = String::new();
    let mut pulled: BTreeMap<String, Fetched> = BTreeMap::new();
    let mut signers = None;
    for (index, policy) in config.policies.iter().enumerate() {
        let reference = PluginRef::parse(&policy.plugin).map_err(|error| Failure::bad_input(format!("{source}: policies[{index}].plugin: {error}")))?;
        let PluginSource::Oci(oci) = reference.source else { continue };
        let key = oci.to_string();
        if !pulled.contains_key(&key) {
            let fetched = runtime.registry().pull(&oci).map_err(|error| Failure::bad_input(format!("{source}: policies[{index}].plugin: {error}")))?;
            summary.push_str(&format!("  {oci}\n    manifest   {}\n    component  {}\n", fetched.resolution.manifest_digest, fetched.resolution.component_digest));
            lock.upsert(LockedPlugin {
                reference: key.clone(),
                manifest: fetched.resolution.manifest_digest.clone(),
                component: fetched.resolution.component_digest.clone(),
            });
            pulled.insert(key.clone(), fetched);
        }
        if policy.signers.is_empty() {
            continue;
        }
        let at = format!("{source}: policies[{index}].signers");
        if signers.is_none() {
            signers = Some(lock_signers(&config, repo, workdir.as_deref()).map_err(|error| Failure::bad_input(format!("{at}: {error}")))?);
        }
        let fetched = &pulled[&key];
        let now = jiff::Timestamp::now().as_second();
        let checked = crate::trust::plugin_signature::verify_fetched(
            &oci,
            &fetched.component,
            &fetched.resolution.manifest_digest,
            &fetched.signature,
            signers.as_ref().expect("loaded above"),
            &policy.signers,
            now,
        );
        match checked {
            Ok(signer) => summary.push_str(&format!("    signed by  {} ({}), as policies[{index}] requires\n", signer.principal, signer.fingerprint)),
            Err(why) if args.allow_unsigned => {
                eprintln!("tollgate: warning: {at}: {why}; locked anyway (--allow-unsigned): plan and promote refuse it until it is signed");
                summary.push_str(&format!("    UNSIGNED   policies[{index}] requires a signature by {}\n", policy.signers.join(", ")));
            }
            Err(why) => {
                return Err(Failure::bad_input(format!(
                    "{at}: {why}\nNothing was written: plan and promote would refuse this plugin. Push it with a signature \
                     (`tollgate plugin sign FILE.wasm`, then `tollgate plugin push FILE.wasm {oci}`), or lock it anyway \
                     with --allow-unsigned"
                )));
            }
        }
    }
    let lock_path = config_path.parent().unwrap_or(Path::new(".")).join(LOCK_FILE);
    let previous = std::fs::read_to_string(&lock_path).ok();
    let rendered = lock.render();
    if previous.as_deref() != Some(rendered.as_str()) {
        write_atomically(&lock_path, &rendered)?;
    }
    let header = match (previous.as_deref() == Some(rendered.as_str()), lock.plugins.len()) {
        (_, 0) => format!("{source} has no oci:// plugins; {} lists none\n", lock_path.display()),
        (true, count) => format!("{} is up to date ({count} plugin(s)):\n", lock_path.display()),
        (false, count) => format!("Wrote {} ({count} plugin(s)); commit it next to {CONFIG_FILE}:\n", lock_path.display()),
    };
    Ok((lock_path, format!("{header}{summary}")))
}

/// The allowed signers `plugin lock` checks `signers:` against: next to the tollgate.yaml it
/// locks, in the work tree `workdir`, or with `--config` on the branch tip, where `plan` reads them.
fn lock_signers(config: &Config, repo: &Path, workdir: Option<&Path>) -> Result<AllowedSigners, String> {
    match workdir {
        Some(workdir) => crate::trust::plugin_signature::signers_from(config, &WorkTree(workdir)),
        None => {
            let git = crate::repo::GitRepo::open(repo).map_err(|error| error.0)?;
            let tip = git.tip(&config.branch).map_err(|error| error.0)?;
            let files = git.proposed_tree(tip.tree, Default::default()).map_err(|error| error.0)?;
            crate::trust::plugin_signature::signers_from(config, &files)
        }
    }
}

/// Files of a work tree, read as the user's own checkout (`plugin lock` runs there).
struct WorkTree<'a>(&'a Path);

impl FileSource for WorkTree<'_> {
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        match std::fs::read_to_string(self.0.join(path)) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(format!("{path}: cannot read it ({error})")),
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |error: std::io::Error| Failure::bad_input(format!("{}: cannot write it ({error})", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(fail)?;
    // A file to commit, not a secret: the usual permissions rather than the temp file's 0600.
    std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(fail)?;
    file.persist(path).map_err(|error| fail(error.error))?;
    Ok(())
}
