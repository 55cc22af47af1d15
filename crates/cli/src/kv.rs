//! OSC-style `key=value,key=value` option values (`--fixed-ip subnet=s,ip-address=1.2.3.4`).

use std::collections::BTreeMap;

/// Parses `k=v,k=v`, accepting only `allowed` keys; every key at most once.
pub fn parse(option: &str, text: &str, allowed: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("{option}: '{part}' is not of the form key=value"));
        };
        if !allowed.contains(&k) {
            return Err(format!("{option}: unknown key '{k}' (expected one of: {})", allowed.join(", ")));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("{option}: key '{k}' given twice"));
        }
    }
    if out.is_empty() {
        return Err(format!("{option}: empty value"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_rejects_garbage() {
        let m = parse("--fixed-ip", "subnet=s1,ip-address=10.0.0.5", &["subnet", "ip-address"]).unwrap();
        assert_eq!(m["subnet"], "s1");
        assert_eq!(m["ip-address"], "10.0.0.5");
        assert!(parse("--fixed-ip", "subnet", &["subnet"]).unwrap_err().contains("key=value"));
        assert!(parse("--fixed-ip", "bogus=1", &["subnet"]).unwrap_err().contains("unknown key"));
        assert!(parse("--fixed-ip", "subnet=a,subnet=b", &["subnet"]).unwrap_err().contains("twice"));
    }
}
