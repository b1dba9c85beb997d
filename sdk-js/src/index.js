// tollgate-sdk for JavaScript and TypeScript: write a tollgate policy plugin as one
// `definePolicy({...})`. Types: ../index.d.ts. The rules mirror the Rust SDK (sdk/): a
// configuration is read field by field, unknown fields and misspelt environment names are
// errors that name the field, and a policy without rules for an environment fails closed.

import { host } from './host.js';

/** A failure the policy reports on purpose: a configuration error, or "cannot decide". */
export class PolicyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** An observation shown to the user; `path` is a file, optionally `file#yaml.path`. */
export function finding(message, path) {
  return path === undefined ? { message: String(message) } : { message: String(message), path: String(path) };
}

/** The transition may go ahead; findings are notes. */
export function allow(...findings) {
  return { decision: 'allow', findings: findings.map(asFinding) };
}

/** The transition must not go ahead, for these reasons (messages or findings). */
export function deny(...reasons) {
  if (reasons.length === 0) throw new PolicyError('deny() needs at least one reason');
  return { decision: 'deny', findings: reasons.map(asFinding) };
}

/** Deny when there is any finding, else allow. */
export function denyIfAny(findings) {
  return findings.length === 0 ? allow() : deny(...findings);
}

/**
 * `verdict`, reporting which approvals the policy counted (WIT 0.1.2): the host records only
 * these as having approved.
 */
export function withCountedApprovals(verdict, approvers) {
  return { ...verdict, countedApprovals: approvers.map(String) };
}

function asFinding(reason) {
  if (typeof reason === 'string') return finding(reason);
  if (reason && typeof reason.message === 'string') return finding(reason.message, reason.path);
  throw new PolicyError(`a finding must be a message or { message, path }, not ${describe(reason)}`);
}

/**
 * What the host says about environments (WIT 0.1.2): tollgate.yaml's environments in graph
 * order, and those this policy runs for. Both empty when the host tells none (then names are
 * not checked).
 */
export function policyEnvironments() {
  const told = host().policyEnvironments();
  return { configured: [...told.configured], runsFor: [...told.runsFor] };
}

/** What is wrong with `name` as an environment of this policy, or `undefined`. */
export function environmentProblem(name, told = policyEnvironments()) {
  if (told.configured.length === 0) return undefined;
  if (!told.configured.includes(name)) {
    return `no environment is called ${name}; the environments of tollgate.yaml are ${told.configured.join(', ')} (a misspelt name would switch these rules off)`;
  }
  if (!told.runsFor.includes(name)) {
    const runsFor = told.runsFor.length === 0 ? 'none' : told.runsFor.join(', ');
    return `this policy does not run for ${name} (its environments in tollgate.yaml: ${runsFor}), so these rules would never apply; remove them, or add ${name} to the policy's environments`;
  }
  return undefined;
}

/**
 * Reads a configuration object field by field. Every error names its path
 * (`config.windows[0].start: …`); when the reader's function returns, a field it did not
 * read is an error (`unknown field`), so a misspelt field never goes unnoticed.
 */
export class ConfigReader {
  constructor(value, path = 'config') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new PolicyError(`${path}: expected a map, found ${describe(value)}`);
    }
    this.value = value;
    this.path = path;
    this.read = new Set();
  }

  /** Whether the field is present (and not null). */
  has(key) {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  field(key) {
    this.read.add(key);
    return this.value[key];
  }

  at(key) {
    return `${this.path}.${key}`;
  }

  missing(key) {
    return new PolicyError(`${this.path}: missing field \`${key}\``);
  }

  /** A string; `fallback` when absent (else it is required). */
  string(key, fallback) {
    return this.scalar(key, fallback, 'string', 'a string');
  }

  /** A boolean; `fallback` when absent (else it is required). */
  boolean(key, fallback) {
    return this.scalar(key, fallback, 'boolean', 'a boolean');
  }

  /** A number; `fallback` when absent (else it is required). */
  number(key, fallback) {
    return this.scalar(key, fallback, 'number', 'a number');
  }

  /** A whole number between `min` and `max`; `fallback` when absent (else it is required). */
  integer(key, fallback, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}) {
    const value = this.number(key, fallback);
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      throw new PolicyError(`${this.at(key)}: expected a whole number from ${min} to ${max}, found ${value}`);
    }
    return value;
  }

  scalar(key, fallback, type, what) {
    const value = this.field(key);
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    if (typeof value !== type) throw new PolicyError(`${this.at(key)}: expected ${what}, found ${describe(value)}`);
    return value;
  }

  /** An optional string: `undefined` when absent. */
  optionalString(key) {
    this.field(key);
    return this.has(key) ? this.string(key) : undefined;
  }

  /** A list of strings; `fallback` when absent (else it is required). */
  stringList(key, fallback) {
    return this.list(key, fallback, (item, path) => {
      if (typeof item !== 'string') throw new PolicyError(`${path}: expected a string, found ${describe(item)}`);
      return item;
    });
  }

  /**
   * A list of environment names, each checked against the environments the host tells
   * (refused, naming the item, when it names no environment this policy runs for).
   */
  environmentList(key, fallback) {
    const told = policyEnvironments();
    return this.list(key, fallback, (item, path) => {
      if (typeof item !== 'string') throw new PolicyError(`${path}: expected a string, found ${describe(item)}`);
      const problem = environmentProblem(item, told);
      if (problem) throw new PolicyError(`${path}: ${problem}`);
      return item;
    });
  }

  /** A list whose items `readItem(item, path)` turns into values; `fallback` when absent. */
  list(key, fallback, readItem) {
    const value = this.field(key);
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    if (!Array.isArray(value)) throw new PolicyError(`${this.at(key)}: expected a list, found ${describe(value)}`);
    return value.map((item, index) => readItem(item, `${this.at(key)}[${index}]`));
  }

  /** A nested map read by `read(reader)`; `fallback` when absent (else it is required). */
  object(key, read, fallback) {
    const value = this.field(key);
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    return readWith(new ConfigReader(value, this.at(key)), read);
  }

  /**
   * A map keyed by environment name, each value read by `read(reader, name)`, each key checked
   * against the environments the host tells; `{}` when absent.
   */
  environmentMap(key, read) {
    const value = this.field(key);
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new PolicyError(`${this.at(key)}: expected a map from environment name to rules, found ${describe(value)}`);
    }
    const told = policyEnvironments();
    const entries = {};
    for (const name of Object.keys(value)) {
      const problem = environmentProblem(name, told);
      if (problem) throw new PolicyError(`${this.at(key)}.${name}: ${problem}`);
      entries[name] = readWith(new ConfigReader(value[name], `${this.at(key)}.${name}`), (reader) => read(reader, name));
    }
    return entries;
  }

  /**
   * The per-environment shape every standard policy uses: `default` (rules for environments
   * without an entry) and `environments` (rules per environment, replacing the default as a
   * whole, keys checked). Each entry is read by `read(reader, scope)`.
   */
  perEnvironment(read) {
    this.field('default');
    const fallbackRules = this.has('default') ? this.object('default', (reader) => read(reader, 'default')) : undefined;
    const environments = this.environmentMap('environments', (reader, name) => read(reader, `environments.${name}`));
    return new PerEnvironment(fallbackRules, environments);
  }

  /** Refuse any field not read. */
  finish() {
    const unknown = Object.keys(this.value).filter((key) => !this.read.has(key));
    if (unknown.length > 0) {
      const expected = [...this.read].map((key) => `\`${key}\``).join(', ');
      const where = this.path === 'config' ? 'config' : this.path;
      throw new PolicyError(`${where}: unknown field \`${unknown[0]}\`${expected ? `, expected one of ${expected}` : ''}`);
    }
  }
}

function readWith(reader, read) {
  const result = read(reader);
  reader.finish();
  return result;
}

/** Rules per environment with an optional default (see {@link ConfigReader#perEnvironment}). */
export class PerEnvironment {
  constructor(fallbackRules, environments) {
    this.default = fallbackRules;
    this.environments = environments;
  }

  /** The rules for `env` and where they came from (`default` or `environments.<env>`), or `undefined`. */
  scoped(env) {
    if (Object.hasOwn(this.environments, env)) return { scope: `environments.${env}`, rules: this.environments[env] };
    if (this.default !== undefined) return { scope: 'default', rules: this.default };
    return undefined;
  }

  /** The rules for `env`, or `undefined`. */
  forEnv(env) {
    return this.scoped(env)?.rules;
  }

  /**
   * The rules for `env`; a `PolicyError` where there are neither an entry nor a default: a
   * policy without rules for an environment does not decide there (the host fails closed).
   */
  rulesFor(env) {
    const scoped = this.scoped(env);
    if (scoped === undefined) {
      throw new PolicyError(
        `no rules for ${env} (no entry under environments and no default), so this policy cannot decide there; ` +
          `add an entry for ${env} (or a default), or leave ${env} out of the policy's environments in tollgate.yaml`,
      );
    }
    return scoped;
  }

  /**
   * Refuse a configuration that leaves an environment the policy runs for without rules,
   * naming them and both fixes. Nothing to check where the host tells no environments.
   */
  requireRulesWhereItRuns() {
    if (this.default !== undefined) return;
    const { runsFor } = policyEnvironments();
    const without = runsFor.filter((env) => !Object.hasOwn(this.environments, env));
    if (without.length === 0) return;
    const withRules = runsFor.filter((env) => Object.hasOwn(this.environments, env));
    const restrict =
      withRules.length === 0
        ? 'remove the policy'
        : `run the policy only where it has rules with \`environments: [${withRules.join(', ')}]\` on the policy in tollgate.yaml`;
    throw new PolicyError(
      `config: no rules for ${without.join(', ')}, where this policy runs (neither an entry under environments nor a default); ` +
        `add an entry for each (or a default), or ${restrict}`,
    );
  }
}

/**
 * A policy plugin from its description, configuration reader and rule. Returns the
 * `tollgate:policy/plugin` export (`info`, `validateConfig`, `evaluate`); `tollgate-js build`
 * exports it from the component, and `tollgate-sdk/testing` calls it natively.
 */
export function definePolicy(spec) {
  for (const key of ['info', 'config', 'evaluate']) {
    if (typeof spec?.[key] !== (key === 'info' ? 'object' : 'function')) {
      throw new TypeError(`definePolicy: \`${key}\` is missing or not a ${key === 'info' ? 'object' : 'function'}`);
    }
  }
  const parse = (text) => {
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new PolicyError(`config: not JSON (${error.message})`);
    }
    if (value === null) value = {};
    return readWith(new ConfigReader(value), spec.config);
  };
  return {
    info() {
      return {
        name: String(spec.info.name),
        version: String(spec.info.version),
        description: String(spec.info.description),
        capabilities: [...(spec.info.capabilities ?? [])],
      };
    },
    validateConfig(config) {
      guard(() => parse(config));
    },
    evaluate(config, transition) {
      return guard(() => {
        const verdict = spec.evaluate(parse(config), transitionFromWit(transition));
        return verdictToWit(verdict);
      });
    },
  };
}

/** Run `body`; anything it throws becomes the error string the host receives (it fails closed). */
function guard(body) {
  try {
    return body();
  } catch (error) {
    if (error instanceof PolicyError) throw error.message;
    throw `the policy threw ${error instanceof Error ? `${error.name}: ${error.message}` : describe(error)}`;
  }
}

function verdictToWit(verdict) {
  if (!verdict || (verdict.decision !== 'allow' && verdict.decision !== 'deny') || !Array.isArray(verdict.findings)) {
    throw new PolicyError(`evaluate must return allow(…), deny(…) or denyIfAny(…), not ${describe(verdict)}`);
  }
  if (verdict.countedApprovals !== undefined) host().reportCountedApprovals(verdict.countedApprovals);
  return { decision: verdict.decision, findings: verdict.findings.map(asFinding) };
}

const seconds = (value) => (value === undefined ? undefined : Number(value));

function artifactFromWit(artifact) {
  return artifact === undefined ? undefined : { image: artifact.image, version: artifact.version, digest: artifact.digest };
}

/** The WIT transition (bigint times) as the SDK's `Transition` (numbers, label lookup). */
export function transitionFromWit(t) {
  const labels = t.labels.map(({ key, value }) => ({ key, value }));
  return {
    id: t.id,
    kind: t.kind,
    application: t.application,
    fromEnv: t.fromEnv,
    toEnv: t.toEnv,
    artifact: artifactFromWit(t.artifact),
    previousArtifact: artifactFromWit(t.previousArtifact),
    requestedBy: t.requestedBy,
    requestedAt: Number(t.requestedAt),
    approvals: t.approvals.map((a) => ({ approver: a.approver, at: Number(a.at), version: a.version, group: a.group })),
    changes: t.changes.map((c) => ({ path: c.path, before: c.before, after: c.after })),
    labels,
    fromEnvSince: seconds(t.fromEnvSince),
    label(key) {
      return labels.find((label) => label.key === key)?.value;
    },
  };
}

/** Every artifact of a multi-artifact application, by name (empty for one image). */
export function transitionArtifacts() {
  return host().transitionArtifacts().map((named) => ({
    name: named.name,
    artifact: artifactFromWit(named.artifact),
    previous: artifactFromWit(named.previous),
  }));
}

/** Write a line to the decision report. */
export function log(level, message) {
  host().log(level, String(message));
}

/** A file of the proposed post-change tree, `undefined` when it does not exist. */
export function readFile(path) {
  try {
    return host().readFile(path);
  } catch (error) {
    throw new PolicyError(`read-file ${path}: ${errorPayload(error)}`);
  }
}

/** HTTP GET from an origin the configuration grants; the body as bytes, with `text()` and `json()`. */
export function httpGet(url, headers = {}) {
  let response;
  try {
    response = host().httpGet(url, Object.entries(headers));
  } catch (error) {
    throw new PolicyError(`http-get ${url}: ${errorPayload(error)}`);
  }
  const body = response.body;
  return {
    status: response.status,
    headers: response.headers,
    body,
    header(name) {
      return response.headers.find(([key]) => key === name.toLowerCase())?.[1];
    },
    text() {
      return new TextDecoder().decode(body);
    },
    json() {
      try {
        return JSON.parse(new TextDecoder().decode(body));
      } catch (error) {
        throw new PolicyError(`response body is not the expected JSON: ${error.message}`);
      }
    },
  };
}

function errorPayload(error) {
  return error?.payload !== undefined ? String(error.payload) : error instanceof Error ? error.message : String(error);
}

/** A short description of a value for messages. */
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

export { useHost } from './host.js';
