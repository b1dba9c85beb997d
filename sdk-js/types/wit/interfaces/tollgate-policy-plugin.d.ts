/// <reference path="./tollgate-policy-types.d.ts" />
declare module 'tollgate:policy/plugin@0.1.3' {
  /**
   * Describe the plugin.
   */
  export function info(): PluginInfo;
  /**
   * Check a configuration (JSON text) without evaluating anything.
   * `err` carries a message naming the offending field.
   */
  export function validateConfig(config: string): void;
  /**
   * Decide on a transition under a configuration (JSON text).
   * `err` means the policy could not decide; the host fails closed.
   */
  export function evaluate(config: string, transition: Transition): Verdict;
  export type PluginInfo = import('tollgate:policy/types@0.1.3').PluginInfo;
  export type Transition = import('tollgate:policy/types@0.1.3').Transition;
  export type Verdict = import('tollgate:policy/types@0.1.3').Verdict;
}
