// image-policy in TypeScript: the same rules, configuration and cases file as the Rust
// example (../image-policy), built with tollgate-sdk for JavaScript.
//
// Artifacts must come from an allowed registry (an image prefix), must not use a mutable
// version tag (latest by default), and, with require_digest, must be pinned by a sha256
// digest. A multi-artifact application has every image checked.

import { Artifact, ConfigReader, Finding, PolicyError, definePolicy, denyIfAny, finding, transitionArtifacts } from 'tollgate-sdk';

/** The configuration, as under the policy's `config:` in tollgate.yaml. */
interface Config {
  /** Image prefixes artifacts must start with, e.g. `registry.example.com/`. */
  allowedRegistries: string[];
  /** Whether an artifact must be pinned by digest. */
  requireDigest: boolean;
  /** Versions that are mutable tags. */
  forbiddenVersions: string[];
}

function readConfig(c: ConfigReader): Config {
  const config = {
    allowedRegistries: c.stringList('allowed_registries'),
    requireDigest: c.boolean('require_digest', false),
    forbiddenVersions: c.stringList('forbidden_versions', ['latest']),
  };
  if (config.allowedRegistries.length === 0) {
    throw new PolicyError('config.allowed_registries: list at least one image prefix, e.g. registry.example.com/');
  }
  return config;
}

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

function check(config: Config, artifact: Artifact, toEnv: string): Finding[] {
  const findings: Finding[] = [];
  if (!config.allowedRegistries.some((prefix) => artifact.image.startsWith(prefix))) {
    findings.push(finding(`${artifact.image} is not from an allowed registry (allowed: ${config.allowedRegistries.join(', ')})`));
  }
  if (config.forbiddenVersions.includes(artifact.version)) {
    findings.push(finding(`version ${artifact.version} is a mutable tag; promote an immutable version`));
  }
  if (artifact.digest === undefined) {
    if (config.requireDigest) {
      findings.push(finding(`${artifact.image}:${artifact.version} is not pinned by digest; ${toEnv} requires a sha256 digest`));
    }
  } else if (!SHA256_DIGEST.test(artifact.digest)) {
    findings.push(finding(`digest ${JSON.stringify(artifact.digest)} is not of the form sha256:<64 hex digits>`));
  }
  return findings;
}

export default definePolicy<Config>({
  info: {
    name: 'ts-image-policy',
    version: '0.1.0',
    description: 'Artifacts come from an allowed registry, use an immutable version, and are pinned by digest when required',
  },
  config: readConfig,
  evaluate(config, transition) {
    const named = transitionArtifacts();
    const artifacts = named.length === 0 ? [transition.artifact] : named.map((n) => n.artifact);
    return denyIfAny(artifacts.flatMap((artifact) => check(config, artifact, transition.toEnv)));
  },
});
