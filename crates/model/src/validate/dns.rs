//! dns-integration's converter and validators (neutron-lib's `api/validators/dns.py`),
//! with Neutron's messages. The part of `validate_dns_name` that reads the server's
//! `dns_domain` is [`crate::dns::DnsDomain::check_port_dns_name`].

use super::{invalid_attr, Reason};
use crate::error::ApiError;
use crate::pystr::py_str;
use serde_json::Value;

/// neutron-lib's `FQDN_FIELD_SIZE`: the longest name or domain, without its trailing dot.
pub const FQDN_MAX: usize = 255;

/// neutron-lib's `DNS_LABEL_MAX_LEN`.
const LABEL_MAX: usize = 63;

/// neutron-lib's `DNS_LABEL_KEYWORDS`: labels `DNS_LABEL_REGEX` accepts as they are (the
/// `dns-integration-domain-keywords` driver would substitute them; ours keeps them).
const LABEL_KEYWORDS: &[&str] = &["<project_id>", "<project_name>", "<user_name>", "<user_id>"];

/// `convert_string_to_case_insensitive`: a string, lower-cased; anything else is
/// `InvalidInput`.
pub fn case_insensitive(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.to_lowercase()),
        other => Err(ApiError::invalid_input(format!("Input value {} must be string type", py_str(other)))),
    }
}

/// `DNS_LABEL_REGEX`: 1-63 of `[a-z0-9-]`, or one of the keywords. Matched whole: Python's
/// `$` also lets one final newline through (Neutron takes `"ab\n"`), but a port's name
/// becomes a line of dnsmasq's hosts file, so no label here may carry a line break.
fn label_matches(label: &str) -> bool {
    let plain = (1..=LABEL_MAX).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plain || LABEL_KEYWORDS.contains(&label)
}

/// `^[0-9]+$`.
fn all_numeric(label: &str) -> bool {
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
}

/// `_validate_dns_format`: RFC 1123 labels, a trailing dot allowed, at most `max_len`
/// characters without it, no all-numeric top-level label.
pub fn format(data: &str, max_len: usize) -> Result<(), Reason> {
    if data.is_empty() {
        return Ok(());
    }
    let why = |reason: String| format!("'{data}' not a valid PQDN or FQDN. Reason: {reason}");
    let trimmed = data.strip_suffix('.').unwrap_or(data);
    if trimmed.chars().count() > max_len {
        return Err(why(format!("'{trimmed}' exceeds the {max_len} character FQDN limit")));
    }
    let labels: Vec<&str> = trimmed.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(why("Encountered an empty component".into()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(why(format!("Name '{label}' must not start or end with a hyphen")));
        }
        if !label_matches(label) {
            return Err(why(format!(
                "Name '{label}' must be 1-63 characters long, each of which can only be alphanumeric or a hyphen"
            )));
        }
    }
    match labels.last() {
        Some(tld) if labels.len() > 1 && all_numeric(tld) => Err(why(format!("TLD '{tld}' must not be all numeric"))),
        _ => Ok(()),
    }
}

/// A port's `dns_name` (`type:dns_host_name`), converted: its format only; what depends on
/// the server's domain is checked once the body is prepared.
pub fn dns_name(v: &Value) -> Result<Value, ApiError> {
    let name = case_insensitive(v)?;
    format(&name, FQDN_MAX).map_err(|r| invalid_attr("dns_name", &r))?;
    Ok(Value::String(name))
}

/// A floating IP's `dns_name` (`validate_fip_dns_name`): relative, and short enough for a
/// domain to be added.
pub fn fip_dns_name(v: &Value) -> Result<Value, ApiError> {
    let name = case_insensitive(v)?;
    let invalid = |r: String| invalid_attr("dns_name", &r);
    if name.is_empty() {
        return Ok(Value::String(name));
    }
    if name.ends_with('.') {
        return Err(invalid(format!("'{name}' is a FQDN. It should be a relative domain name")));
    }
    format(&name, FQDN_MAX).map_err(invalid)?;
    let length = name.chars().count();
    if length > FQDN_MAX - 3 {
        return Err(invalid(format!(
            "'{name}' contains {length} characters. Adding a domain name will cause it to exceed the maximum \
             length of a FQDN of '{FQDN_MAX}'"
        )));
    }
    Ok(Value::String(name))
}

/// A network's, port's or floating IP's `dns_domain` (`validate_dns_domain`): a FQDN with
/// room for a sub-domain.
pub fn dns_domain(v: &Value) -> Result<Value, ApiError> {
    let domain = case_insensitive(v)?;
    domain_reason(&domain).map_err(|r| invalid_attr("dns_domain", &r))?;
    Ok(Value::String(domain))
}

/// `validate_dns_domain`'s checks on a string.
pub fn domain_reason(domain: &str) -> Result<(), Reason> {
    if domain.is_empty() {
        return Ok(());
    }
    if !domain.ends_with('.') {
        return Err(format!("'{domain}' is not a FQDN"));
    }
    format(domain, FQDN_MAX)?;
    let length = domain.chars().count();
    if length > FQDN_MAX - 2 {
        return Err(format!(
            "'{domain}' contains {length} characters. Adding a sub-domain will cause it to exceed the maximum \
             length of a FQDN of '{FQDN_MAX}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name_err(v: Value) -> String {
        dns_name(&v).unwrap_err().message
    }

    #[test]
    fn names_are_lower_cased_and_checked_label_by_label() {
        assert_eq!(dns_name(&json!("VM-One")).unwrap(), json!("vm-one"));
        assert_eq!(dns_name(&json!("")).unwrap(), json!(""));
        assert_eq!(dns_name(&json!("a.b.example.org.")).unwrap(), json!("a.b.example.org."));
        assert_eq!(dns_name(&json!("<project_id>")).unwrap(), json!("<project_id>"));
        let reason = |r: &str| format!("Invalid input for dns_name. Reason: {r}.");
        assert_eq!(
            name_err(json!("a..b")),
            reason("'a..b' not a valid PQDN or FQDN. Reason: Encountered an empty component")
        );
        assert_eq!(
            name_err(json!(".")),
            reason("'.' not a valid PQDN or FQDN. Reason: Encountered an empty component")
        );
        assert_eq!(
            name_err(json!("-ab")),
            reason("'-ab' not a valid PQDN or FQDN. Reason: Name '-ab' must not start or end with a hyphen")
        );
        assert_eq!(
            name_err(json!("A_b")),
            reason(
                "'a_b' not a valid PQDN or FQDN. Reason: Name 'a_b' must be 1-63 characters long, each of which \
                 can only be alphanumeric or a hyphen"
            )
        );
        assert_eq!(
            name_err(json!("a.123")),
            reason("'a.123' not a valid PQDN or FQDN. Reason: TLD '123' must not be all numeric")
        );
        let long = "a".repeat(64);
        assert!(name_err(json!(long)).contains(&format!("Name '{long}' must be 1-63 characters long")));
        let too_long = vec!["a".repeat(60); 5].join(".");
        assert_eq!(
            name_err(json!(too_long)),
            reason(&format!(
                "'{too_long}' not a valid PQDN or FQDN. Reason: '{too_long}' exceeds the 255 character FQDN limit"
            ))
        );
    }

    #[test]
    fn no_label_carries_a_line_break() {
        for name in ["ab\n", "ab\n.cd", "a-\n"] {
            assert!(name_err(json!(name)).contains("must be 1-63 characters long"), "{name:?}");
        }
    }

    #[test]
    fn non_strings_fail_the_converter() {
        let err = dns_name(&json!(5)).unwrap_err();
        assert_eq!((err.status, &*err.kind), (400, "InvalidInput"));
        assert_eq!(err.message, "Invalid input for operation: Input value 5 must be string type.");
        assert_eq!(
            dns_domain(&json!(null)).unwrap_err().message,
            "Invalid input for operation: Input value None must be string type."
        );
        assert_eq!(
            fip_dns_name(&json!(["a"])).unwrap_err().message,
            "Invalid input for operation: Input value ['a'] must be string type."
        );
    }

    #[test]
    fn domains_are_fqdns_with_room_for_a_label() {
        assert_eq!(dns_domain(&json!("Example.COM.")).unwrap(), json!("example.com."));
        assert_eq!(dns_domain(&json!("")).unwrap(), json!(""));
        let err = |v: Value| dns_domain(&v).unwrap_err().message;
        assert_eq!(err(json!("example.com")), "Invalid input for dns_domain. Reason: 'example.com' is not a FQDN.");
        assert_eq!(err(json!("1.2.")), "Invalid input for dns_domain. Reason: '1.2.' not a valid PQDN or FQDN. Reason: TLD '2' must not be all numeric.");
        let fits = format!("{}.", vec!["a".repeat(60); 4].join("."));
        assert!(dns_domain(&json!(fits)).is_ok());
        let full = format!("{}.", vec!["a".repeat(63); 4].join("."));
        assert_eq!(
            err(json!(full)),
            format!(
                "Invalid input for dns_domain. Reason: '{full}' contains 256 characters. Adding a sub-domain will \
                 cause it to exceed the maximum length of a FQDN of '255'."
            )
        );
    }

    #[test]
    fn floating_ip_names_are_relative_and_leave_room() {
        assert_eq!(fip_dns_name(&json!("Fip1")).unwrap(), json!("fip1"));
        let err = |v: Value| fip_dns_name(&v).unwrap_err().message;
        assert_eq!(
            err(json!("fip.")),
            "Invalid input for dns_name. Reason: 'fip.' is a FQDN. It should be a relative domain name."
        );
        let long = format!("{}.a", vec!["a".repeat(62); 4].join("."));
        assert_eq!(
            err(json!(long)),
            format!(
                "Invalid input for dns_name. Reason: '{long}' contains 253 characters. Adding a domain name will \
                 cause it to exceed the maximum length of a FQDN of '255'."
            )
        );
    }
}
