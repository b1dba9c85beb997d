//! Process exit codes, the same for every command and output format.

/// How a `tollgate` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: allowed, or the command succeeded.
    Success = 0,
    /// 1: denied by a policy, or tests failed.
    Denied = 1,
    /// 2: bad input or usage (config, YAML, wasm, arguments, repository state).
    BadInput = 2,
    /// 3: a policy failed to run; the decision failed closed.
    PolicyFailed = 3,
    /// 4: conflict: the branch moved, or a push was rejected after retries.
    Conflict = 4,
}

impl ExitCode {
    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }
}
