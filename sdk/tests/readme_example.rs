//! The README's example plugin, compiled and its unit tests run: `readme_example/lib.rs` and
//! `readme_example/tests.rs` (with `readme_example/per_environment.rs`) are the README's `rust` blocks, byte for byte (checked below),
//! so the README cannot show code that does not build or a test that does not pass.

#![allow(dead_code)]

mod example {
    include!("readme_example/lib.rs");
    include!("readme_example/tests.rs");
}

/// The "Rules per environment" block, with the two names it leaves to the reader.
mod per_environment {
    use tollgate_sdk::Result;

    struct Rules;

    fn check(_path: &str, _rules: &Rules) -> Result<()> {
        Ok(())
    }

    include!("readme_example/per_environment.rs");
}

/// The README's fenced `rust` blocks, in order.
fn readme_rust_blocks() -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body.find("```").expect("an unterminated rust block in sdk/README.md");
        blocks.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    blocks
}

#[test]
fn the_readme_shows_exactly_the_compiled_example() {
    let blocks = readme_rust_blocks();
    assert_eq!(blocks.len(), 3, "sdk/README.md has {} rust blocks; each must be compiled here", blocks.len());
    assert_eq!(blocks[0], include_str!("readme_example/lib.rs"), "sdk/README.md's src/lib.rs block differs from tests/readme_example/lib.rs");
    assert_eq!(blocks[1], include_str!("readme_example/per_environment.rs"), "sdk/README.md's per-environment block differs from tests/readme_example/per_environment.rs");
    assert_eq!(blocks[2], include_str!("readme_example/tests.rs"), "sdk/README.md's test block differs from tests/readme_example/tests.rs");
}
