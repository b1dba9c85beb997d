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

/// A command that could not finish, with the exit code that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code.
    pub code: ExitCode,
    /// A message naming the file, field or line and what to do.
    pub message: String,
}

impl Failure {
    /// Bad input or usage (exit 2).
    pub fn bad_input(message: impl Into<String>) -> Self {
        Failure { code: ExitCode::BadInput, message: message.into() }
    }

    /// A conflict (exit 4).
    pub fn conflict(message: impl Into<String>) -> Self {
        Failure { code: ExitCode::Conflict, message: message.into() }
    }

    /// A policy or the runtime failed (exit 3).
    pub fn policy_failed(message: impl Into<String>) -> Self {
        Failure { code: ExitCode::PolicyFailed, message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
