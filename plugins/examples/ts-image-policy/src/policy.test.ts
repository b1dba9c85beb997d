// Native unit tests (no WebAssembly): `node ../../../sdk-js/bin/tollgate-js.mjs test` here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as testing from 'tollgate-sdk/testing';
import policy from './policy';

const CONFIG = { allowed_registries: ['registry.example.com/'], require_digest: true };
const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

test('a pinned image from an allowed registry is allowed', () => {
  const t = testing.transition({ image: 'registry.example.com/shop/api', version: '1.4.2', digest: DIGEST });
  assert.deepEqual(testing.evaluate(policy, CONFIG, t).findings, []);
});

test('every image of a multi-artifact application is checked', () => {
  testing.setTransitionArtifacts([
    { name: 'api', artifact: { image: 'registry.example.com/shop/api', version: '1.3.0', digest: DIGEST } },
    { name: 'worker', artifact: { image: 'docker.io/evil/worker', version: '1.3.0', digest: DIGEST } },
  ]);
  const verdict = testing.evaluate(policy, CONFIG, testing.transition({ digest: DIGEST }));
  testing.reset();
  assert.equal(verdict.decision, 'deny');
  assert.deepEqual(verdict.findings.map((f) => f.message), ['docker.io/evil/worker is not from an allowed registry (allowed: registry.example.com/)']);
});

test('a malformed digest is named', () => {
  const verdict = testing.evaluate(policy, CONFIG, testing.transition({ digest: 'sha256:XYZ' }));
  assert.deepEqual(verdict.findings.map((f) => f.message), ['digest "sha256:XYZ" is not of the form sha256:<64 hex digits>']);
});

test('configuration errors name the field', () => {
  assert.throws(() => testing.validate(policy, { allowed_registries: [] }), /^PolicyError: config\.allowed_registries: list at least one image prefix/);
  assert.throws(
    () => testing.validate(policy, { allowed_registries: ['x/'], require_digst: true }),
    { message: 'config: unknown field `require_digst`, expected one of `allowed_registries`, `require_digest`, `forbidden_versions`' },
  );
});
