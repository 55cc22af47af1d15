//! A stand-in for Nova's metadata API, the upstream of the DHCP hosts' metadata proxies.

use crate::cloud::Cloud;
use crate::error::{Result, TestbedError};
use std::collections::BTreeMap;

/// A stand-in for Nova's metadata API on the controller: checks the signature of
/// `X-Instance-ID` as Nova does (403 when wrong) and answers `/latest/meta-data/instance-id`
/// with the instance id it was told; records every request's headers.
pub struct FakeNova {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<BTreeMap<String, String>>>>,
}

impl FakeNova {
    /// Starts it on `<controller>:8775`.
    pub fn start(cloud: &Cloud, secret: &str) -> Result<FakeNova> {
        use std::io::{BufRead, BufReader, Write};
        let addr = format!("{}:8775", cloud.tb.controller_ip());
        let listener = cloud
            .tb
            .in_netns(cloud.tb.controller().netns(), || std::net::TcpListener::bind(&addr))?
            .map_err(|e| TestbedError::io("binding the fake Nova", e))?;
        let requests: std::sync::Arc<std::sync::Mutex<Vec<BTreeMap<String, String>>>> = Default::default();
        let seen = requests.clone();
        let secret = secret.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => continue,
                });
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut headers = BTreeMap::new();
                headers.insert(":path".to_string(), path.clone());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let instance = headers.get("x-instance-id").cloned().unwrap_or_default();
                let signature = headers.get("x-instance-id-signature").cloned().unwrap_or_default();
                let good = sign(&secret, &instance) == signature;
                seen.lock().map(|mut r| r.push(headers)).ok();
                let (status, body) = if !good {
                    ("403 Forbidden", "Invalid proxy request signature.".to_string())
                } else if path.ends_with("/meta-data/instance-id") {
                    ("200 OK", instance)
                } else {
                    ("404 Not Found", "Not found".to_string())
                };
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Ok(FakeNova { url: format!("http://{addr}"), requests })
    }
}

/// Nova's check: hex HMAC-SHA256 of the instance id under the shared secret.
fn sign(secret: &str, instance_id: &str) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(instance_id.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
