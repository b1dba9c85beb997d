//! Host-side bindings for the `tollgate:policy/policy` world, generated from `wit/policy.wit`.

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit",
});

pub use self::tollgate::policy::host as host_imports;
pub use self::tollgate::policy::types as wit;
