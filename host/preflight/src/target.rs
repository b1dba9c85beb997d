/// The target every policy plugin is compiled for.
pub const WASM_TARGET: &str = "wasm32-wasip2";
