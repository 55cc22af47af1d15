//! The narrow interface to nftables: list one of our tables, apply one transaction. The real
//! one runs `nft -j` (the nftables JSON interface); [`super::fake::FakeNft`] keeps the
//! "kernel" in memory.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A failed `nft` run, naming the command.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("could not run {command}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed { command: String, status: String, stderr: String },
    #[error("{command} printed something else than nftables JSON")]
    Parse {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What the firewall needs from nftables. Blocking calls (the firewall runs them off the
/// async executor).
pub trait NftRunner: Send + Sync {
    /// `nft -j list table <family> <name>`: the listing, or `None` if there is no such table.
    fn list_table(&self, family: &str, name: &str) -> Result<Option<serde_json::Value>, NftError>;
    /// `nft -j -f -` with `document` on stdin: one atomic transaction.
    fn apply(&self, document: &str) -> Result<(), NftError>;
    /// `nft -f -` with `script` (nft's own syntax) on stdin: for what the JSON input cannot
    /// say (a set declared with `typeof`, see `nd`).
    fn apply_script(&self, script: &str) -> Result<(), NftError>;
}

/// Runs the `nft` binary in the agent's own network namespace.
#[derive(Debug, Clone)]
pub struct SystemNft {
    pub nft_path: PathBuf,
}

impl SystemNft {
    fn command(&self, args: &[&str]) -> String {
        format!("{} {}", self.nft_path.display(), args.join(" "))
    }

    /// Runs nft; the output whatever the exit status.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, NftError> {
        let spawn = |source| NftError::Spawn { command: self.command(args), source };
        let mut child = Command::new(&self.nft_path)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn)?;
        let mut write_error = None;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            write_error = pipe.write_all(text.as_bytes()).err();
        }
        let out = child.wait_with_output().map_err(spawn)?;
        match write_error {
            // It stopped reading and still says it succeeded: the document did not go in.
            Some(e) if out.status.success() => Err(spawn(e)),
            // It exited early (a broken pipe): its status and stderr say why.
            _ => Ok(out),
        }
    }

    /// Runs nft with `input` on stdin; an error unless it succeeds.
    fn feed(&self, args: &[&str], input: &str) -> Result<(), NftError> {
        let out = self.run(args, Some(input))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failed(args, &out))
        }
    }

    fn failed(&self, args: &[&str], out: &Output) -> NftError {
        NftError::Failed {
            command: self.command(args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
    }
}

impl NftRunner for SystemNft {
    fn list_table(&self, family: &str, name: &str) -> Result<Option<serde_json::Value>, NftError> {
        let args = ["-j", "list", "table", family, name];
        let out = self.run(&args, None)?;
        if out.status.success() {
            let parse = |source| NftError::Parse { command: self.command(&args), source };
            return serde_json::from_slice(&out.stdout).map(Some).map_err(parse);
        }
        if String::from_utf8_lossy(&out.stderr).contains("No such file or directory") {
            return Ok(None);
        }
        Err(self.failed(&args, &out))
    }

    fn apply(&self, document: &str) -> Result<(), NftError> {
        self.feed(&["-j", "-f", "-"], document)
    }

    fn apply_script(&self, script: &str) -> Result<(), NftError> {
        self.feed(&["-f", "-"], script)
    }
}
