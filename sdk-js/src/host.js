// The host functions a policy calls. Inside the component they are the imports of
// `tollgate:policy/host@0.1.3`, handed over by the entry `tollgate-js build` generates;
// natively, `tollgate-sdk/testing` installs its test double.

let current;

/** Install the host functions (the WIT imports, or a test double). */
export function useHost(functions) {
  current = functions;
}

/** The installed host functions. */
export function host() {
  if (current === undefined) {
    throw new Error('tollgate-sdk: no host functions: build with `tollgate-js build`, or test with tollgate-sdk/testing');
  }
  return current;
}
