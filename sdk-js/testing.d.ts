// Types of tollgate-sdk/testing (src/testing.js).

/// <reference path="./types/wit/policy.d.ts" />

import type * as wit from 'tollgate:policy/types@0.1.2';
import type { NamedArtifact, PolicyExport, Verdict } from './index.js';

export declare function reset(): void;
export declare function setFile(path: string, content: string): void;
export declare function setHttpResponse(url: string, response?: { status?: number; headers?: Record<string, string>; body?: string | Uint8Array }): void;
export declare function setHttpError(url: string, message: string): void;
export declare function setEnvironments(configured: string[], runsFor?: string[]): void;
export declare function setTransitionArtifacts(artifacts: NamedArtifact[]): void;
export declare function logs(): { level: string; message: string }[];

/** Overrides of the default test transition. */
export interface TransitionOverrides {
  id?: string;
  kind?: wit.TransitionKind;
  application?: string;
  fromEnv?: string;
  toEnv?: string;
  image?: string;
  version?: string;
  digest?: string;
  previousArtifact?: wit.Artifact;
  requestedBy?: string;
  /** Unix seconds or RFC 3339 text. */
  requestedAt?: number | string;
  approvals?: { approver: string; version?: string; at?: number | string; group?: string }[];
  changes?: wit.FileChange[];
  labels?: Record<string, string>;
  fromEnvSince?: number | string;
}

/** A transition as the host passes it (defaults: registry.example.com/app 1.0.0, staging → prod, alice, 2026-01-05T10:00:00Z). */
export declare function transition(overrides?: TransitionOverrides): wit.Transition;
/** Check a configuration as tollgate does; throws a PolicyError with the policy's message. */
export declare function validate(policy: PolicyExport, config: unknown): void;
/** Validate, then evaluate, as tollgate does; throws a PolicyError when the policy cannot decide. */
export declare function evaluate(policy: PolicyExport, config: unknown, transition?: wit.Transition): Verdict;
