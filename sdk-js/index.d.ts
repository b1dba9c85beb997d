// Types of tollgate-sdk (src/index.js). The WIT types come from types/wit/, generated from
// wit/v0.1.3/policy.wit by `jco guest-types` (regenerate with `npm run types`).

/// <reference path="./types/wit/policy.d.ts" />

import type * as wit from 'tollgate:policy/types@0.1.3';

/** A capability a plugin asks for in `info.capabilities`. */
export type Capability = wit.Capability;

/** Self-description of a plugin. */
export interface PluginInfo {
  /** Short machine-friendly name, e.g. `change-ticket`. */
  name: string;
  /** Plugin version (semver). */
  version: string;
  /** One sentence on what the policy enforces. */
  description: string;
  /** `read-file` and/or `http-get`, when the policy needs them. */
  capabilities?: Capability[];
}

/** An immutable, deployable build. */
export interface Artifact {
  image: string;
  version: string;
  digest?: string;
}

/** One artifact of a multi-artifact application. */
export interface NamedArtifact {
  name: string;
  artifact: Artifact;
  previous?: Artifact;
}

/** One person's approval; `at` in Unix seconds. */
export interface Approval {
  approver: string;
  at: number;
  version: string;
  group?: string;
}

/** A free-form annotation on a transition, e.g. `change-ticket` = `CHG-1234`. */
export interface Label {
  key: string;
  value: string;
}

/** The proposed change a policy decides on (the WIT record, with times as numbers). */
export interface Transition {
  id: string;
  kind: wit.TransitionKind;
  application: string;
  fromEnv?: string;
  toEnv: string;
  artifact: Artifact;
  previousArtifact?: Artifact;
  requestedBy: string;
  /** Unix seconds; also what the sandbox's clock reads. */
  requestedAt: number;
  approvals: Approval[];
  changes: wit.FileChange[];
  labels: Label[];
  fromEnvSince?: number;
  /** The value of the label `key`, if the transition carries it. */
  label(key: string): string | undefined;
}

/** An observation shown to the user; `path` is a file, optionally `file#yaml.path`. */
export interface Finding {
  message: string;
  path?: string;
}

/** A policy's answer. */
export interface Verdict {
  decision: wit.Decision;
  findings: Finding[];
  /** The approvers whose approvals counted (reported to the host, WIT 0.1.2). */
  countedApprovals?: string[];
}

/** A failure the policy reports on purpose: a configuration error, or "cannot decide". */
export declare class PolicyError extends Error {
  constructor(message: string);
}

export declare function finding(message: string, path?: string): Finding;
/** The transition may go ahead; findings are notes. */
export declare function allow(...findings: (string | Finding)[]): Verdict;
/** The transition must not go ahead, for these reasons. */
export declare function deny(...reasons: (string | Finding)[]): Verdict;
/** Deny when there is any finding, else allow. */
export declare function denyIfAny(findings: (string | Finding)[]): Verdict;
/** `verdict`, reporting which approvals counted: the host records only these as having approved. */
export declare function withCountedApprovals(verdict: Verdict, approvers: string[]): Verdict;

/** tollgate.yaml's environments in graph order, and those this policy runs for (both empty when not told). */
export interface PolicyEnvironments {
  configured: string[];
  runsFor: string[];
}
export declare function policyEnvironments(): PolicyEnvironments;
/** What is wrong with `name` as an environment of this policy, or `undefined`. */
export declare function environmentProblem(name: string, told?: PolicyEnvironments): string | undefined;

/**
 * Reads a configuration field by field; errors name the path (`config.x[0].y: …`); a field
 * the reader's function did not read is an error when it returns.
 */
export declare class ConfigReader {
  readonly path: string;
  has(key: string): boolean;
  string(key: string, fallback?: string): string;
  optionalString(key: string): string | undefined;
  boolean(key: string, fallback?: boolean): boolean;
  number(key: string, fallback?: number): number;
  integer(key: string, fallback?: number, range?: { min?: number; max?: number }): number;
  stringList(key: string, fallback?: string[]): string[];
  /** Environment names, each checked against the environments the host tells. */
  environmentList(key: string, fallback?: string[]): string[];
  list<T>(key: string, fallback: T[] | undefined, readItem: (item: unknown, path: string) => T): T[];
  object<T>(key: string, read: (reader: ConfigReader) => T, fallback?: T): T;
  /** A map keyed by environment name (keys checked); `{}` when absent. */
  environmentMap<T>(key: string, read: (reader: ConfigReader, name: string) => T): Record<string, T>;
  /** `default` + `environments` (keys checked), each entry read by `read(reader, scope)`. */
  perEnvironment<T>(read: (reader: ConfigReader, scope: string) => T): PerEnvironment<T>;
}

/** Rules per environment with an optional default; an entry replaces the default as a whole. */
export declare class PerEnvironment<T> {
  readonly default: T | undefined;
  readonly environments: Record<string, T>;
  scoped(env: string): { scope: string; rules: T } | undefined;
  forEnv(env: string): T | undefined;
  /** The rules for `env`; a PolicyError (fail closed) where there are none. */
  rulesFor(env: string): { scope: string; rules: T };
  /** Refuse a configuration leaving an environment the policy runs for without rules. */
  requireRulesWhereItRuns(): void;
}

/** What `definePolicy` takes. */
export interface PolicySpec<Config> {
  info: PluginInfo;
  /** Read (and check) the configuration; throw a PolicyError naming the field when it is wrong. */
  config(reader: ConfigReader): Config;
  /** Decide. A rule violation is `deny(…)`; throw a PolicyError only when the policy cannot decide. */
  evaluate(config: Config, transition: Transition): Verdict;
}

/** The `tollgate:policy/plugin` export a policy becomes. */
export interface PolicyExport {
  info(): wit.PluginInfo;
  validateConfig(config: string): void;
  evaluate(config: string, transition: wit.Transition): wit.Verdict;
}

export declare function definePolicy<Config>(spec: PolicySpec<Config>): PolicyExport;

/** Every artifact of a multi-artifact application (empty for a single image). */
export declare function transitionArtifacts(): NamedArtifact[];
export declare function log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
/** A file of the proposed post-change tree (`undefined`: no such file); needs `read-file`. */
export declare function readFile(path: string): string | undefined;
export interface HttpResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  header(name: string): string | undefined;
  text(): string;
  json(): unknown;
}
/** HTTP GET from a granted origin; needs `http-get`. */
export declare function httpGet(url: string, headers?: Record<string, string>): HttpResponse;
/** The WIT transition as the SDK's `Transition`. */
export declare function transitionFromWit(transition: wit.Transition): Transition;
/** Install the host functions (done by `tollgate-js build` and by `tollgate-sdk/testing`). */
export declare function useHost(functions: unknown): void;
