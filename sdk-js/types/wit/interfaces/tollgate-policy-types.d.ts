declare module 'tollgate:policy/types@0.1.3' {
  /**
   * What a transition does to the target environment.
   * # Variants
   * 
   * ## `"promote"`
   * 
   * Move an artifact forward (from the previous environment, or a new version into the first one).
   * ## `"rollback"`
   * 
   * Put back an artifact that was in the target environment before.
   */
  export type TransitionKind = 'promote' | 'rollback';
  /**
   * An immutable, deployable build.
   */
  export interface Artifact {
    /**
     * Image repository without tag or digest, e.g. `registry.example.com/shop/api`.
     */
    image: string,
    /**
     * Version (usually the image tag), e.g. `1.4.2`.
     */
    version: string,
    /**
     * Content digest, e.g. `sha256:3f1c…`, when known.
     */
    digest?: string,
  }
  /**
   * One person's approval of a promotion.
   */
  export interface Approval {
    /**
     * Who approved (user name or e-mail, as recorded by the approval system).
     */
    approver: string,
    /**
     * When they approved, in Unix seconds UTC.
     */
    at: bigint,
    /**
     * The artifact version they approved; an approval only counts for that exact version.
     */
    version: string,
    /**
     * The role or group the approver acted in (e.g. `sre`), when known.
     */
    group?: string,
  }
  /**
   * One file the transition changes in the GitOps repository.
   */
  export interface FileChange {
    /**
     * Repository-relative path with `/` separators, e.g. `envs/prod/shop-api/values.yaml`.
     */
    path: string,
    /**
     * Content before the change; `none` when the file is being created.
     */
    before?: string,
    /**
     * Content after the change; `none` when the file is being deleted.
     */
    after?: string,
  }
  /**
   * A free-form key/value annotation on a transition (e.g. `break-glass` = `INC-1234`).
   */
  export interface Label {
    key: string,
    value: string,
  }
  /**
   * The proposed change a policy decides on.
   */
  export interface Transition {
    /**
     * Unique id of this decision; it is recorded in the promotion commit.
     */
    id: string,
    /**
     * Promotion or rollback.
     */
    kind: TransitionKind,
    /**
     * Application name as configured in tollgate, e.g. `shop-api`.
     */
    application: string,
    /**
     * Environment the artifact comes from; `none` for the first environment or a rollback.
     */
    fromEnv?: string,
    /**
     * Environment being changed, e.g. `prod`.
     */
    toEnv: string,
    /**
     * The artifact that will run in `to-env` after the transition.
     */
    artifact: Artifact,
    /**
     * The artifact running in `to-env` before the transition, when there is one.
     */
    previousArtifact?: Artifact,
    /**
     * Who asked for the transition.
     */
    requestedBy: string,
    /**
     * When it was asked for, in Unix seconds UTC. This is also what the plugin's
     * clock reads, so a verdict never depends on when it is computed.
     */
    requestedAt: bigint,
    /**
     * Approvals collected for this transition.
     */
    approvals: Array<Approval>,
    /**
     * The file edits the transition would commit.
     */
    changes: Array<FileChange>,
    /**
     * Labels attached by the requester or the pipeline.
     */
    labels: Array<Label>,
    /**
     * When `artifact` landed in `from-env` (Unix seconds UTC), for soak-time rules.
     */
    fromEnvSince?: bigint,
  }
  /**
   * One observation a policy reports, shown to the user.
   */
  export interface Finding {
    /**
     * A sentence a person understands, e.g. `prod is frozen until 2027-01-05 (year-end close)`.
     */
    message: string,
    /**
     * The file (and optionally `file#yaml.path`) the finding is about, when there is one.
     */
    path?: string,
  }
  /**
   * The outcome of a policy.
   * # Variants
   * 
   * ## `"allow"`
   * 
   * The transition may go ahead.
   * ## `"deny"`
   * 
   * The transition must not go ahead.
   */
  export type Decision = 'allow' | 'deny';
  /**
   * A policy's answer: the decision and the findings that explain it.
   * An `allow` may carry findings too (notes such as a recorded break-glass ticket).
   */
  export interface Verdict {
    decision: Decision,
    findings: Array<Finding>,
  }
  /**
   * A narrow capability a plugin asks the host for. The host grants it only when the
   * tollgate configuration of that policy says so.
   * # Variants
   * 
   * ## `"read-file"`
   * 
   * Read files of the proposed post-change repository tree via `host.read-file`.
   * ## `"http-get"`
   * 
   * Fetch URLs via `host.http-get`, limited to origins granted in the configuration.
   */
  export type Capability = 'read-file' | 'http-get';
  /**
   * Self-description of a plugin.
   */
  export interface PluginInfo {
    /**
     * Short machine-friendly name, e.g. `change-window`.
     */
    name: string,
    /**
     * Plugin version (semver), e.g. `1.2.0`.
     */
    version: string,
    /**
     * One sentence on what the policy enforces.
     */
    description: string,
    /**
     * Capabilities the plugin needs to work.
     */
    capabilities: Array<Capability>,
  }
}
