// Native tests of a policy: no WebAssembly. Importing this module installs a test double for
// the host functions; `evaluate` runs the policy's export the way tollgate does (validate the
// configuration, then evaluate), so a unit test exercises what the component will run.
// Mirrors the Rust SDK's `tollgate_sdk::testing`.

import { useHost } from './host.js';
import { PolicyError } from './index.js';

const state = fresh();

function fresh() {
  return { files: new Map(), http: new Map(), logs: [], environments: { configured: [], runsFor: [] }, artifacts: [], counted: undefined };
}

useHost({
  log(level, message) {
    state.logs.push({ level, message });
  },
  readFile(path) {
    return state.files.get(path);
  },
  httpGet(url) {
    const canned = state.http.get(url);
    if (canned === undefined) throw { payload: `no canned response for ${url} (use testing.setHttpResponse)` };
    if (canned.error !== undefined) throw { payload: canned.error };
    return canned;
  },
  policyEnvironments() {
    return state.environments;
  },
  reportCountedApprovals(approvers) {
    state.counted = [...approvers];
  },
  transitionArtifacts() {
    return state.artifacts;
  },
});

/** Forget every file, response, log line, environment and artifact set so far. */
export function reset() {
  Object.assign(state, fresh());
}

/** What `readFile(path)` returns. */
export function setFile(path, content) {
  state.files.set(path, content);
}

/** What `httpGet(url)` returns: `{ status = 200, headers = {}, body = '' }`. */
export function setHttpResponse(url, { status = 200, headers = {}, body = '' } = {}) {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  state.http.set(url, { status, headers: Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]), body: bytes });
}

/** Make `httpGet(url)` fail with `message` (no response). */
export function setHttpError(url, message) {
  state.http.set(url, { error: message });
}

/** What `policyEnvironments()` answers: tollgate.yaml's environments and those the policy runs for. */
export function setEnvironments(configured, runsFor = configured) {
  state.environments = { configured: [...configured], runsFor: [...runsFor] };
}

/** What `transitionArtifacts()` answers: `[{ name, artifact, previous? }]`. */
export function setTransitionArtifacts(artifacts) {
  state.artifacts = artifacts;
}

/** The lines logged so far: `[{ level, message }]`. */
export function logs() {
  return [...state.logs];
}

const DEFAULT_REQUESTED_AT = 1767607200; // 2026-01-05T10:00:00Z, a Monday

/**
 * A transition as the host passes it: a promotion of registry.example.com/app 1.0.0 from
 * staging to prod, requested by alice at 2026-01-05T10:00:00Z, with no approvals or labels;
 * `overrides` change any part (`toEnv`, `image`, `version`, `digest`, `labels: { key: value }`,
 * `approvals: [{ approver, version }]`, `requestedAt` as seconds or RFC 3339 text, `kind`, …).
 */
export function transition(overrides = {}) {
  const { image, version, digest, labels, approvals, requestedAt, fromEnvSince, ...rest } = overrides;
  const at = (value) => BigInt(typeof value === 'string' ? Math.floor(Date.parse(value) / 1000) : value);
  return {
    id: 'test-decision',
    kind: 'promote',
    application: 'app',
    fromEnv: 'staging',
    toEnv: 'prod',
    previousArtifact: undefined,
    requestedBy: 'alice',
    changes: [],
    ...rest,
    artifact: { image: image ?? 'registry.example.com/app', version: version ?? '1.0.0', digest },
    requestedAt: at(requestedAt ?? DEFAULT_REQUESTED_AT),
    approvals: (approvals ?? []).map((a) => ({ approver: a.approver, version: a.version ?? version ?? '1.0.0', at: at(a.at ?? DEFAULT_REQUESTED_AT), group: a.group })),
    labels: Object.entries(labels ?? {}).map(([key, value]) => ({ key, value })),
    fromEnvSince: fromEnvSince === undefined ? undefined : at(fromEnvSince),
  };
}

function json(config) {
  return typeof config === 'string' ? config : JSON.stringify(config ?? {});
}

/** Check a configuration as tollgate does; throws a `PolicyError` with the policy's message. */
export function validate(policy, config) {
  try {
    policy.validateConfig(json(config));
  } catch (message) {
    throw new PolicyError(String(message));
  }
}

/**
 * Run the policy as tollgate does: validate the configuration, then evaluate. Returns the
 * verdict (`{ decision, findings, countedApprovals }`; `countedApprovals` is what it reported,
 * `undefined` when it reported nothing); throws a `PolicyError` when the policy could not
 * decide (tollgate would fail closed).
 */
export function evaluate(policy, config, t = transition()) {
  validate(policy, config);
  state.counted = undefined;
  let verdict;
  try {
    verdict = policy.evaluate(json(config), t);
  } catch (message) {
    throw new PolicyError(String(message));
  }
  return { ...verdict, countedApprovals: state.counted };
}
