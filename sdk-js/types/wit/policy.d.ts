/// <reference path="./interfaces/tollgate-policy-host.d.ts" />
/// <reference path="./interfaces/tollgate-policy-plugin.d.ts" />
/// <reference path="./interfaces/tollgate-policy-types.d.ts" />
declare module 'tollgate:policy/policy@0.1.3' {
  export type * as TollgatePolicyHost013 from 'tollgate:policy/host@0.1.3'; // import tollgate:policy/host@0.1.3
  export type * as TollgatePolicyTypes013 from 'tollgate:policy/types@0.1.3'; // import tollgate:policy/types@0.1.3
  export * as plugin from 'tollgate:policy/plugin@0.1.3'; // export tollgate:policy/plugin@0.1.3
}
