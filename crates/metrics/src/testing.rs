//! The reference parser of the text format, for tests: python's
//! `prometheus_client.parser` (Debian's python3-prometheus-client), which refuses malformed
//! text. Behind the `testing` feature: only test builds shell out to python.

/// Parses `text` with `prometheus_client.parser`; `Ok(None)` when the parser is not installed
/// and `CI` is unset (under `CI` that is an error: the test must not skip there).
pub fn parse_exposition_json(text: &str) -> Result<Option<String>, String> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
"#;
    let python = debian_python();
    let have = std::process::Command::new(python).args(["-c", "import prometheus_client"]).output();
    if !have.is_ok_and(|o| o.status.success()) {
        if std::env::var_os("CI").is_some() {
            return Err("python3 with prometheus_client (python3-prometheus-client) is required under CI".into());
        }
        eprintln!("SKIP: python3 with prometheus_client is not installed (apt-get install python3-prometheus-client)");
        return Ok(None);
    }
    let mut child = std::process::Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    std::io::Write::write_all(&mut stdin, text.as_bytes()).map_err(|e| format!("writing to python3: {e}"))?;
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Debian's interpreter, where apt installs python3-prometheus-client: the `python3` first
/// on PATH may be another (a pyenv build, as on our CI machines) without Debian's packages.
fn debian_python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}
