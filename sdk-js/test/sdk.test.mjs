// The SDK natively (node --test): configuration reading with named errors, environment names
// checked as the Rust SDK checks them, per-environment rules, verdicts and counted approvals,
// and what the host receives when a policy throws.

import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as testing from '../src/testing.js';
import { PolicyError, allow, definePolicy, deny, denyIfAny, finding, withCountedApprovals } from '../src/index.js';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..');

beforeEach(() => testing.reset());

/** A policy whose rules per environment say how many approvals are required. */
const approvals = definePolicy({
  info: { name: 'approvals', version: '1.0.0', description: 'n approvals' },
  config(c) {
    const rules = c.perEnvironment((r) => ({ required: r.integer('required', undefined, { min: 0, max: 10 }) }));
    rules.requireRulesWhereItRuns();
    return { rules, frozen: c.environmentList('frozen', []) };
  },
  evaluate(config, t) {
    if (config.frozen.includes(t.toEnv)) return deny(`${t.toEnv} is frozen`);
    const { scope, rules } = config.rules.rulesFor(t.toEnv);
    const counted = t.approvals.filter((a) => a.version === t.artifact.version && a.approver !== t.requestedBy).map((a) => a.approver);
    const verdict = counted.length >= rules.required ? allow(finding(`${counted.length} of ${rules.required} (${scope})`)) : deny(`needs ${rules.required} approvals`);
    return withCountedApprovals(verdict, counted);
  },
});

const message = (body) => {
  try {
    body();
  } catch (thrown) {
    return thrown.message;
  }
  assert.fail('expected a PolicyError');
};

test('rules per environment: an entry replaces the default, counted approvals are reported', () => {
  const config = { default: { required: 1 }, environments: { prod: { required: 2 } } };
  const t = testing.transition({ approvals: [{ approver: 'bob' }, { approver: 'alice' }, { approver: 'carol' }] });
  const verdict = testing.evaluate(approvals, config, t);
  assert.equal(verdict.decision, 'allow');
  assert.deepEqual(verdict.findings, [{ message: '2 of 2 (environments.prod)' }]);
  assert.deepEqual(verdict.countedApprovals, ['bob', 'carol']);
  const staging = testing.evaluate(approvals, config, testing.transition({ toEnv: 'staging' }));
  assert.deepEqual(staging.findings, [{ message: 'needs 1 approvals' }]);
  assert.equal(staging.decision, 'deny');
});

test('a misspelt environment key is refused naming the key, as the Rust SDK does', () => {
  testing.setEnvironments(['dev', 'staging', 'prod-eu', 'prod-us']);
  const config = { default: { required: 1 }, environments: { prod: { required: 2 } } };
  assert.equal(
    message(() => testing.validate(approvals, config)),
    'config.environments.prod: no environment is called prod; the environments of tollgate.yaml are dev, staging, prod-eu, prod-us (a misspelt name would switch these rules off)',
  );
  assert.equal(
    message(() => testing.validate(approvals, { default: { required: 1 }, frozen: ['staging', 'prd'] })),
    'config.frozen[1]: no environment is called prd; the environments of tollgate.yaml are dev, staging, prod-eu, prod-us (a misspelt name would switch these rules off)',
  );
  testing.setEnvironments(['dev', 'staging', 'prod'], ['prod']);
  assert.match(
    message(() => testing.validate(approvals, { environments: { prod: { required: 2 }, dev: { required: 0 } } })),
    /^config\.environments\.dev: this policy does not run for dev \(its environments in tollgate\.yaml: prod\), so these rules would never apply; remove them, or add dev to the policy's environments$/,
  );
  // Not told any environments (plugin eval without --environment): names are not checked.
  testing.reset();
  testing.validate(approvals, { environments: { anything: { required: 1 } } });
});

test('an environment the policy runs for without rules is refused, and without rules it fails closed', () => {
  testing.setEnvironments(['staging', 'prod']);
  assert.equal(
    message(() => testing.validate(approvals, { environments: { prod: { required: 2 } } })),
    'config: no rules for staging, where this policy runs (neither an entry under environments nor a default); add an entry for each (or a default), or run the policy only where it has rules with `environments: [prod]` on the policy in tollgate.yaml',
  );
  testing.reset();
  assert.match(
    message(() => testing.evaluate(approvals, { environments: { prod: { required: 2 } } }, testing.transition({ toEnv: 'qa' }))),
    /^no rules for qa \(no entry under environments and no default\), so this policy cannot decide there; /,
  );
});

test('configuration errors name the field: unknown, missing, wrong type, out of range, not JSON', () => {
  assert.equal(
    message(() => testing.validate(approvals, { default: { required: 1 }, frozn: [] })),
    'config: unknown field `frozn`, expected one of `default`, `environments`, `frozen`',
  );
  assert.equal(message(() => testing.validate(approvals, { default: { requird: 1 } })), 'config.default: missing field `required`');
  assert.equal(message(() => testing.validate(approvals, { default: { required: 'two' } })), 'config.default.required: expected a number, found the string "two"');
  assert.equal(message(() => testing.validate(approvals, { default: { required: 11 } })), 'config.default.required: expected a whole number from 0 to 10, found 11');
  assert.equal(message(() => testing.validate(approvals, { default: { required: 1 }, frozen: 'prod' })), 'config.frozen: expected a list, found the string "prod"');
  assert.equal(message(() => testing.validate(approvals, '[1]')), 'config: expected a map, found a list');
  assert.match(message(() => testing.validate(approvals, '{not json')), /^config: not JSON \(/);
});

test('what the host receives: the WIT verdict, or an error string when the policy throws', () => {
  const throwing = definePolicy({
    info: { name: 't', version: '1', description: 'd' },
    config: (c) => ({ mode: c.string('mode') }),
    evaluate(config) {
      if (config.mode === 'cannot') throw new PolicyError('the ERP did not answer');
      if (config.mode === 'bug') return undefined.x;
      if (config.mode === 'bad') return { decision: 'maybe', findings: [] };
      return denyIfAny([finding('at a path', 'envs/prod/app.yaml#image.tag')]);
    },
  });
  const t = testing.transition();
  assert.deepEqual(throwing.evaluate('{"mode": "ok"}', t), { decision: 'deny', findings: [{ message: 'at a path', path: 'envs/prod/app.yaml#image.tag' }] });
  assert.throws(() => throwing.evaluate('{"mode": "cannot"}', t), (thrown) => thrown === 'the ERP did not answer');
  assert.throws(() => throwing.evaluate('{"mode": "bug"}', t), (thrown) => typeof thrown === 'string' && thrown.startsWith('the policy threw TypeError: '));
  assert.throws(() => throwing.evaluate('{"mode": "bad"}', t), (thrown) => thrown.startsWith('evaluate must return allow(…), deny(…) or denyIfAny(…), not a map'));
  assert.throws(() => throwing.validateConfig('{}'), (thrown) => thrown === 'config: missing field `mode`');
  assert.deepEqual(throwing.info(), { name: 't', version: '1', description: 'd', capabilities: [] });
  assert.throws(() => definePolicy({ info: {}, config: () => ({}) }), /definePolicy: `evaluate` is missing/);
});

test('the test double answers the host functions', async () => {
  const { readFile, httpGet, log, transitionArtifacts } = await import('../src/index.js');
  testing.setFile('envs/prod/app.yaml', 'image: x');
  assert.equal(readFile('envs/prod/app.yaml'), 'image: x');
  assert.equal(readFile('missing'), undefined);
  testing.setHttpResponse('https://erp.example.com/ready', { headers: { 'Content-Type': 'application/json' }, body: '{"ready": true}' });
  const response = httpGet('https://erp.example.com/ready');
  assert.deepEqual([response.status, response.header('content-type'), response.json()], [200, 'application/json', { ready: true }]);
  testing.setHttpError('https://down.example.com/', 'connection refused');
  assert.equal(message(() => httpGet('https://down.example.com/')), 'http-get https://down.example.com/: connection refused');
  log('warn', 'careful');
  assert.deepEqual(testing.logs(), [{ level: 'warn', message: 'careful' }]);
  testing.setTransitionArtifacts([{ name: 'api', artifact: { image: 'a', version: '1' } }]);
  assert.deepEqual(transitionArtifacts(), [{ name: 'api', artifact: { image: 'a', version: '1', digest: undefined }, previous: undefined }]);
});

test('the default test transition is the Rust SDK one, with times as the host passes them', () => {
  const t = testing.transition({ labels: { 'change-ticket': 'CHG-1' }, requestedAt: '2026-01-09T16:30:00Z' });
  assert.equal(t.requestedAt, 1767976200n);
  assert.deepEqual([t.fromEnv, t.toEnv, t.requestedBy, t.artifact.image, t.artifact.version], ['staging', 'prod', 'alice', 'registry.example.com/app', '1.0.0']);
  assert.equal(testing.transition().requestedAt, 1767607200n);
  assert.deepEqual(t.labels, [{ key: 'change-ticket', value: 'CHG-1' }]);
});

test('the TypeScript types in types/wit are what jco generates from the WIT', () => {
  const wit = readdirSync(join(SDK, 'wit')).filter((dir) => dir.startsWith('v'));
  assert.equal(wit.length, 1, `one WIT version in wit/: ${wit}`);
  const out = mkdtempSync(join(tmpdir(), 'tollgate-sdk-types-'));
  try {
    const jco = join(SDK, 'node_modules', '@bytecodealliance', 'jco', 'src', 'jco.js');
    execFileSync(process.execPath, [jco, 'guest-types', join(SDK, 'wit', wit[0]), '-n', 'policy', '-o', out, '-q']);
    for (const file of ['policy.d.ts', 'interfaces/tollgate-policy-host.d.ts', 'interfaces/tollgate-policy-plugin.d.ts', 'interfaces/tollgate-policy-types.d.ts']) {
      assert.equal(readFileSync(join(SDK, 'types', 'wit', file), 'utf8'), readFileSync(join(out, file), 'utf8'), `types/wit/${file} is stale: run npm run types`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
