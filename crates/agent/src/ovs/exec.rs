//! Running the OVS command-line tools: one child process per call, bounded in time.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Why an OVS tool could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    #[error("cannot run {program}")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} did not finish within {} s", timeout.as_secs_f64())]
    Timeout { program: &'static str, timeout: Duration },
    #[error("{program} {verb} failed ({status}): {stderr}")]
    Failed { program: &'static str, verb: String, status: String, stderr: String },
    #[error("cannot read {program}'s output: {reason}")]
    Output { program: &'static str, reason: String },
}

/// How much longer than its own `--timeout` a tool may take before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// Runs `program args`, writing `stdin` to it, and returns its standard output. The child
/// is killed when the timeout passes (or the future is dropped), so a wedged
/// ovsdb-server or ovs-vswitchd never wedges a pass.
pub(crate) async fn run(
    program: &'static str,
    args: &[String],
    env: Option<(&str, &Path)>,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<String, OvsError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some((key, value)) = env {
        cmd.env(key, value);
    }
    let work = async {
        let mut child = cmd.spawn().map_err(|source| OvsError::Spawn { program, source })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await.map_err(|source| OvsError::Spawn { program, source })?;
        }
        child.wait_with_output().await.map_err(|source| OvsError::Spawn { program, source })
    };
    // A little past the tool's own `--timeout`, so its message (which daemon did not
    // answer) normally wins over the kill.
    let limit = timeout + GRACE;
    let out = tokio::time::timeout(limit, work).await.map_err(|_| OvsError::Timeout { program, timeout: limit })??;
    if !out.status.success() {
        let verb = args.iter().find(|a| !a.starts_with('-')).cloned().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(OvsError::Failed { program, verb, status: out.status.to_string(), stderr });
    }
    String::from_utf8(out.stdout).map_err(|e| OvsError::Output { program, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tool_that_hangs_is_killed_and_a_failure_carries_its_stderr() {
        let started = std::time::Instant::now();
        let e = run("sleep", &["30".into()], None, None, Duration::ZERO).await.unwrap_err();
        assert!(matches!(e, OvsError::Timeout { program: "sleep", .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let e = run("sh", &["-c".into(), "echo no such bridge >&2; exit 1".into()], None, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no such bridge"), "{e}");
        let echoed = run("cat", &[], None, Some("flows\n"), Duration::from_secs(5)).await.unwrap();
        assert_eq!(echoed, "flows\n", "stdin reaches the tool");
    }
}
