//! A small typed process helper: every command is printed (`$ ...`, with its extra environment
//! and working directory) before it runs, and a failure becomes an [`Error`] naming the command.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An automation failure: a message for the user. `main` prints it and exits non-zero.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    /// An error with this message.
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }

    /// Prefixes the message with some context (`"<ctx>: <msg>"`).
    pub(crate) fn context(self, ctx: impl fmt::Display) -> Self {
        Self(format!("{ctx}: {}", self.0))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

/// The result type of every xtask step.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// A command to run: program, arguments, extra environment, working directory.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    quiet: bool,
}

impl Cmd {
    /// A command running `program`.
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            quiet: false,
        }
    }

    /// `cargo` (the one that runs xtask, from `$CARGO`, else `cargo` on `PATH`).
    pub(crate) fn cargo() -> Self {
        Self::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub(crate) fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(it.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    pub(crate) fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    /// Runs the child in `dir`.
    pub(crate) fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Does not echo the command line (for probes such as `cargo fuzz --version`).
    pub(crate) fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    fn build(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }

    fn echo(&self) {
        if !self.quiet {
            eprintln!("$ {self}");
        }
    }

    /// Runs with inherited stdio; a non-zero exit is an error.
    pub(crate) fn run(&self) -> Result<()> {
        self.echo();
        let status = self
            .build()
            .stdin(Stdio::null())
            .status()
            .map_err(|e| Error::new(format!("cannot start `{self}`: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!("`{self}` failed ({status})")))
        }
    }

    /// Runs capturing stdout (stderr is inherited); a non-zero exit is an error.
    pub(crate) fn output(&self) -> Result<String> {
        self.echo();
        let out = self
            .build()
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| Error::new(format!("cannot start `{self}`: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::new(format!("`{self}` failed ({})", out.status)))
        }
    }

    /// Runs with all output discarded; true when it started and exited 0.
    pub(crate) fn succeeds(&self) -> bool {
        self.echo();
        self.build()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.cwd {
            write!(f, "(cd {} && ", shell_quote(d.as_os_str()))?;
        }
        for (k, v) in &self.envs {
            write!(f, "{}={} ", k.to_string_lossy(), shell_quote(v))?;
        }
        write!(f, "{}", shell_quote(&self.program))?;
        for a in &self.args {
            write!(f, " {}", shell_quote(a))?;
        }
        if self.cwd.is_some() {
            f.write_str(")")?;
        }
        Ok(())
    }
}
