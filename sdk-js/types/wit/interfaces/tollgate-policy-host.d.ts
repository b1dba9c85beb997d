/// <reference path="./tollgate-policy-types.d.ts" />
declare module 'tollgate:policy/host@0.1.3' {
  /**
   * Every artifact of the transition being evaluated, in name order, when the
   * application has several (since 0.1.1). They move together; the transition's
   * `artifact` then carries the primary artifact's image and the set's version (the
   * shared version, or `set-` and a digest of every name and version), which is what
   * approvals name. Empty for a single-image application: its one artifact is
   * `transition.artifact`.
   */
  export function transitionArtifacts(): Array<NamedArtifact>;
  /**
   * The environments of the configuration this policy runs under (since 0.1.2), so that
   * `validate-config` can refuse a per-environment key that names no environment (a typo
   * would otherwise switch a rule off) and a policy can tell where it runs without rules.
   * Available in `validate-config` and `evaluate`. Both lists are empty only where no
   * tollgate configuration is in play (`tollgate plugin eval` without `--environment`, a
   * cases file without `environments:`): names cannot be checked then.
   */
  export function policyEnvironments(): EnvironmentNames;
  /**
   * Report which of the transition's approvals the policy counted (since 0.1.2), each by
   * its `approver` exactly as in `transition.approvals`; call it during `evaluate`, with an
   * empty list when none counted. The host records only counted approvals as approving
   * the promotion; a policy that never calls it has said nothing about them. Calls
   * add up, and a name reported twice counts once. Reporting a name that is not an approver
   * of the transition, or more names over all calls than the transition has approvals, is
   * malformed output: the policy fails closed.
   */
  export function reportCountedApprovals(approvers: Array<string>): void;
  /**
   * The kind of every artifact of the transition being evaluated (since 0.1.3), as
   * (name, kind) in name order: for a multi-artifact application one pair per artifact,
   * named as in `transition-artifacts`; for a single-artifact application one pair named
   * after the application, for `transition.artifact`. A list of pairs rather than a
   * `named-artifact` with a new field: a record cannot gain a field compatibly, the names
   * join with `transition-artifacts`, and a single-artifact application (for which that
   * list is empty) is covered too. A plugin of 0.1.2 or before sees every artifact as it
   * did: a chart's or Git revision's `image` holds the identifier above.
   */
  export function transitionArtifactKinds(): Array<[string, ArtifactKind]>;
  /**
   * Write a line to the decision report (bounded; excess lines are dropped).
   */
  export function log(level: LogLevel, message: string): void;
  /**
   * Read a file of the proposed post-change tree of the GitOps repository (read-only).
   * `ok(none)` when the file does not exist; `err` when reading is not granted,
   * the path is invalid, or the file is too large.
   */
  export function readFile(path: string): string | undefined;
  /**
   * HTTP GET `url` with the given request headers. Refused (`err`) unless the policy's
   * configuration grants the URL's origin; bounded by the evaluation deadline and a
   * maximum response size. Non-2xx statuses are returned as `ok`; `err` means no response.
   */
  export function httpGet(url: string, headers: Array<[string, string]>): HttpResponse;
  export type Artifact = import('tollgate:policy/types@0.1.3').Artifact;
  /**
   * One artifact of a multi-artifact application (since 0.1.1).
   */
  export interface NamedArtifact {
    /**
     * Its name in the tollgate configuration, e.g. `worker`.
     */
    name: string,
    /**
     * What goes into the target environment.
     */
    artifact: Artifact,
    /**
     * What ran there before, when known.
     */
    previous?: Artifact,
  }
  /**
   * The environments of the tollgate configuration a policy runs under (since 0.1.2).
   */
  export interface EnvironmentNames {
    /**
     * Every environment the configuration defines, in graph order (each after its
     * upstreams), e.g. `[qa, staging-us, prod-us]`.
     */
    configured: Array<string>,
    /**
     * The environments this policy runs for, in the same order: its `environments:`
     * list in tollgate.yaml, or all of `configured` when it has none.
     */
    runsFor: Array<string>,
  }
  /**
   * What kind of thing an artifact is (since 0.1.3).
   * # Variants
   * 
   * ## `"image"`
   * 
   * A container image: `image` is its repository, `version` its tag (or, pinned by
   * digest alone, the digest), `digest` its manifest digest when the files hold one.
   * ## `"helm-chart"`
   * 
   * A Helm chart: `image` is `REPOSITORY/NAME` (for an OCI repository, the
   * `oci://…` reference Helm uses), `version` the chart version; no digest.
   * ## `"git-revision"`
   * 
   * A Git revision: `image` is the repository URL, `version` a tag or a 40-hex
   * commit id; no digest.
   */
  export type ArtifactKind = 'image' | 'helm-chart' | 'git-revision';
  /**
   * Severity of a log line.
   * # Variants
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
  /**
   * An HTTP response.
   */
  export interface HttpResponse {
    /**
     * HTTP status code, e.g. 200.
     */
    status: number,
    /**
     * Response headers, names lower-cased.
     */
    headers: Array<[string, string]>,
    /**
     * Response body (bounded in size by the host).
     */
    body: Uint8Array,
  }
}
