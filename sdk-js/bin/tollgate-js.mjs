#!/usr/bin/env node
// tollgate-js: build a TypeScript/JavaScript policy into a tollgate plugin component, and run
// its native unit tests.
//
//   tollgate-js build [ENTRY] [-o OUT] [--no-check]
//       type-check (TypeScript, the project's tsconfig.json), bundle ENTRY with this SDK
//       (esbuild-wasm), then make a component of it against the SDK's WIT (componentize-js,
//       WASI HTTP left out: a policy reaches the network only through tollgate's http-get).
//       ENTRY defaults to src/policy.ts; OUT to dist/NAME.wasm (NAME: package.json's name,
//       `-` as `_`).
//   tollgate-js test [FILES...]
//       type-check, bundle each test file (default: every *.test.ts / *.test.js under test/
//       and src/) and run them with node's test runner. No WebAssembly: tollgate-sdk/testing
//       stands in for the host.
//
// Every tool runs from this package's own dependencies (pinned in its package.json) and the
// SDK bundled is always this one, so a policy builds the same wherever it is built.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// The one WIT version this SDK carries (wit/vVERSION/), which its bindings are for.
const WIT_VERSION = readdirSync(join(SDK_DIR, 'wit')).find((dir) => /^v\d+\.\d+\.\d+$/.test(dir)).slice(1);
const WIT_DIR = join(SDK_DIR, 'wit', `v${WIT_VERSION}`);
/** Where `tollgate-sdk` and `tollgate-sdk/testing` resolve to, for the bundler and the type checker. */
const SDK_MODULES = {
  'tollgate-sdk': { source: join(SDK_DIR, 'src', 'index.js'), types: join(SDK_DIR, 'index.d.ts') },
  'tollgate-sdk/testing': { source: join(SDK_DIR, 'src', 'testing.js'), types: join(SDK_DIR, 'testing.d.ts') },
};

class UsageError extends Error {}

function say(message) {
  process.stderr.write(`tollgate-js: ${message}\n`);
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const options = { command, positional: [], out: undefined, check: true };
  for (let index = 0; index < rest.length; index += 1) {
    const arg = rest[index];
    if (arg === '-o' || arg === '--out') {
      options.out = rest[++index];
      if (options.out === undefined) throw new UsageError(`${arg} needs a file`);
    } else if (arg === '--no-check') {
      options.check = false;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      options.positional.push(arg);
    }
  }
  return options;
}

/** The project: the nearest directory at or above `start` with a package.json (else `start`). */
function projectOf(start) {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(start);
  }
}

function packageName(project) {
  try {
    return JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).name;
  } catch {
    return undefined;
  }
}

/**
 * Type-check `files` with the project's tsconfig.json (or strict defaults); false on errors.
 * `nodeTypes`: node's own modules (node:test, node:assert) are known, for tests.
 */
async function typeCheck(project, files, nodeTypes = false) {
  const ts = (await import('typescript')).default;
  const configPath = ts.findConfigFile(project, ts.sys.fileExists, 'tsconfig.json');
  let options = { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler, skipLibCheck: true };
  if (configPath !== undefined && dirname(configPath) === project) {
    const read = ts.readConfigFile(configPath, ts.sys.readFile);
    if (read.error) return report(ts, [read.error]);
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, project);
    if (parsed.errors.length > 0) return report(ts, parsed.errors);
    options = parsed.options;
  }
  const paths = Object.fromEntries(Object.entries(SDK_MODULES).map(([name, { types }]) => [name, [types]]));
  options = { ...options, noEmit: true, allowJs: true, allowImportingTsExtensions: true, paths: { ...options.paths, ...paths } };
  if (nodeTypes) {
    const nodeTypesDir = dirname(createRequire(import.meta.url).resolve('@types/node/package.json'));
    options = { ...options, typeRoots: [dirname(nodeTypesDir)], types: ['node'] };
  }
  const program = ts.createProgram(files, options);
  return report(ts, ts.getPreEmitDiagnostics(program));
}

function report(ts, diagnostics) {
  if (diagnostics.length === 0) return true;
  const host = { getCanonicalFileName: (name) => name, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnostics(diagnostics, host));
  say(`${diagnostics.length} type error(s); fix them, or build with --no-check`);
  return false;
}

/** An esbuild plugin resolving `tollgate-sdk` to this SDK and keeping the WIT imports. */
const sdkResolver = {
  name: 'tollgate-sdk',
  setup(build) {
    build.onResolve({ filter: /^tollgate-sdk(\/testing)?$/ }, (args) => ({ path: SDK_MODULES[args.path].source }));
    build.onResolve({ filter: /^tollgate:/ }, (args) => ({ path: args.path, external: true }));
    // Only tests import node's modules (node:test, node:assert); they run in node.
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Bundle `contents` (an entry module living in `resolveDir`) into one ES module at `outfile`. */
async function bundle(contents, resolveDir, outfile) {
  const esbuild = await import('esbuild-wasm');
  const result = await esbuild.build({
    stdin: { contents, resolveDir, sourcefile: 'tollgate-entry.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    outfile,
    plugins: [sdkResolver],
    logLevel: 'silent',
  }).catch((error) => error);
  const errors = result.errors ?? [];
  if (errors.length > 0) {
    const text = await esbuild.formatMessages(errors, { kind: 'error' });
    process.stderr.write(text.join(''));
    return false;
  }
  return true;
}

async function build(options) {
  const entry = resolve(options.positional[0] ?? 'src/policy.ts');
  if (options.positional.length > 1) throw new UsageError('build takes one entry file');
  if (!existsSync(entry)) throw new UsageError(`${entry}: no such file (give the policy's entry file: tollgate-js build src/policy.ts)`);
  const project = projectOf(dirname(entry));
  const name = (packageName(project) ?? basename(entry).replace(/\.[cm]?[jt]s$/, '')).replace(/^@[^/]+\//, '').replace(/[^A-Za-z0-9]+/g, '_');
  const out = resolve(options.out ?? join(project, 'dist', `${name}.wasm`));
  const started = Date.now();

  if (options.check && !(await typeCheck(project, [entry]))) return 1;
  const work = mkdtempSync(join(tmpdir(), 'tollgate-js-'));
  try {
    const bundled = join(work, 'policy.js');
    const contents = [
      `import * as host from 'tollgate:policy/host@${WIT_VERSION}';`,
      `import { useHost } from 'tollgate-sdk';`,
      `import policy from ${JSON.stringify(entry)};`,
      'useHost(host);',
      'export const plugin = policy;',
      '',
    ].join('\n');
    if (!(await bundle(contents, project, bundled))) return 1;
    const { componentize } = await import('@bytecodealliance/componentize-js');
    const { component } = await componentize({
      sourcePath: bundled,
      witPath: WIT_DIR,
      worldName: 'policy',
      disableFeatures: ['http', 'fetch-event'],
    });
    mkdirSync(dirname(out), { recursive: true });
    // Written beside and renamed, so a failed build never leaves a component that looks new.
    writeFileSync(`${out}.tmp`, component);
    renameSync(`${out}.tmp`, out);
    say(`built ${relative(process.cwd(), out) || out}: ${component.length} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s (tollgate:policy@${WIT_VERSION})`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Test files under `dir` (recursively, skipping node_modules and dist). */
function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'dist') return [];
    if (statSync(path).isDirectory()) return testFiles(path);
    return /\.test\.[cm]?[jt]s$/.test(entry) ? [path] : [];
  });
}

async function test(options) {
  const project = projectOf(process.cwd());
  const files = options.positional.length > 0 ? options.positional.map((file) => resolve(file)) : [...testFiles(join(project, 'src')), ...testFiles(join(project, 'test'))];
  if (files.length === 0) throw new UsageError('no test files (*.test.ts under src/ or test/)');
  if (options.check && !(await typeCheck(project, files, true))) return 1;
  const work = mkdtempSync(join(tmpdir(), 'tollgate-js-test-'));
  try {
    const bundles = [];
    for (const [index, file] of files.entries()) {
      const bundled = join(work, `${index}-${basename(file).replace(/\.[cm]?[jt]s$/, '')}.mjs`);
      if (!(await bundle(`import ${JSON.stringify(file)};\n`, dirname(file), bundled))) return 1;
      bundles.push(bundled);
    }
    const run = spawnSync(process.execPath, ['--test', ...bundles], { stdio: 'inherit' });
    return run.status ?? 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
    if (options.command === 'build') return await build(options);
    if (options.command === 'test') return await test(options);
    throw new UsageError(options.command === undefined ? 'give a command' : `unknown command ${options.command}`);
  } catch (error) {
    if (error instanceof UsageError) {
      say(`${error.message}\nusage: tollgate-js build [ENTRY] [-o OUT] [--no-check] | tollgate-js test [FILES...] [--no-check]`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
