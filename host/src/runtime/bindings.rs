//! Host-side bindings for the `tollgate:policy/policy` world, generated from `wit/policy.wit`.

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit",
});

pub use tollgate::policy::host as host_imports;
pub use tollgate::policy::types as wit;
