//! Errors of the command-line tool: one line of text and an exit code.

use std::fmt;
use std::path::Path;

use cfdb::CoreError;
use cfdb::kv::KvError;

/// Exit code of a usage error (bad arguments, unknown variable or dimension, empty region).
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code of a bad, damaged, locked or unreadable file.
pub(crate) const EXIT_FILE: i32 = 1;

/// An error to print as one line on stderr before exiting with `code`.
#[derive(Debug)]
pub(crate) struct CliError {
    /// The process exit code.
    pub(crate) code: i32,
    /// The message (one line, naming the file when there is one).
    pub(crate) msg: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// `Result` with [`CliError`].
pub(crate) type CliResult<T> = Result<T, CliError>;

/// Joins `path` and a message, leaving out the path when the message already starts with it.
fn with_path(path: &Path, msg: &str) -> String {
    let p = path.display().to_string();
    let msg = one_line(msg);
    match msg.strip_prefix(&p) {
        Some(rest) if rest.starts_with(": ") => format!("{p}{rest}"),
        _ => format!("{p}: {msg}"),
    }
}

/// Collapses a message to one line.
fn one_line(msg: &str) -> String {
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl CliError {
    /// A usage error (exit 2) about `path`.
    pub(crate) fn usage(path: &Path, msg: impl AsRef<str>) -> CliError {
        CliError {
            code: EXIT_USAGE,
            msg: with_path(path, msg.as_ref()),
        }
    }

    /// A usage error (exit 2) about no file in particular.
    pub(crate) fn usage_plain(msg: impl AsRef<str>) -> CliError {
        CliError {
            code: EXIT_USAGE,
            msg: one_line(msg.as_ref()),
        }
    }

    /// A file error (exit 1) about `path`.
    pub(crate) fn file(path: &Path, msg: impl AsRef<str>) -> CliError {
        CliError {
            code: EXIT_FILE,
            msg: with_path(path, msg.as_ref()),
        }
    }

    /// A dataset error about `path`: selection and naming problems are usage errors, the rest
    /// (I/O, locks, corruption, bad metadata) file errors.
    pub(crate) fn core(path: &Path, e: CoreError) -> CliError {
        let code = match &e {
            CoreError::NotFound { .. }
            | CoreError::EmptySelection { .. }
            | CoreError::IndexOutOfRange { .. }
            | CoreError::TooManyIndices { .. }
            | CoreError::LabelNotFound { .. }
            | CoreError::BadLabel { .. }
            | CoreError::InvalidName { .. }
            | CoreError::AlreadyExists { .. } => EXIT_USAGE,
            _ => EXIT_FILE,
        };
        let msg = match &e {
            CoreError::Kv(k) => kv_message(k),
            other => other.to_string(),
        };
        CliError {
            code,
            msg: with_path(path, &msg),
        }
    }

    /// A key/value container error about `path` (always a file error).
    pub(crate) fn kv(path: &Path, e: KvError) -> CliError {
        CliError {
            code: EXIT_FILE,
            msg: with_path(path, &kv_message(&e)),
        }
    }

    /// An I/O error about `path`.
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> CliError {
        CliError {
            code: EXIT_FILE,
            msg: with_path(path, &e.to_string()),
        }
    }
}

/// The message of a kv error, with a hint for the common cases.
fn kv_message(e: &KvError) -> String {
    match e {
        KvError::LockTimeout { path, waited_ms } => format!(
            "{}: locked by another process (a writer holds it); gave up after {:.1} s",
            path.display(),
            *waited_ms as f64 / 1000.0
        ),
        KvError::NotFound { path } => format!("{}: no such file", path.display()),
        other => other.to_string(),
    }
}
