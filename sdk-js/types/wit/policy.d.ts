/// <reference path="./interfaces/tollgate-policy-host.d.ts" />
/// <reference path="./interfaces/tollgate-policy-plugin.d.ts" />
/// <reference path="./interfaces/tollgate-policy-types.d.ts" />
declare module 'tollgate:policy/policy@0.1.2' {
  export type * as TollgatePolicyHost012 from 'tollgate:policy/host@0.1.2'; // import tollgate:policy/host@0.1.2
  export type * as TollgatePolicyTypes012 from 'tollgate:policy/types@0.1.2'; // import tollgate:policy/types@0.1.2
  export * as plugin from 'tollgate:policy/plugin@0.1.2'; // export tollgate:policy/plugin@0.1.2
}
