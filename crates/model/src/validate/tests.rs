use super::*;
use serde_json::json;

#[test]
fn booleans_follow_oslo() {
    assert!(to_bool(&json!("True")).unwrap());
    assert!(!to_bool(&json!("off")).unwrap());
    let err = to_bool(&json!("maybe")).unwrap_err();
    assert_eq!(err.message, "Invalid input for operation: 'maybe' cannot be converted to boolean.");
    assert_eq!(err.kind, "InvalidInput");
}

#[test]
fn ip_addresses_reject_leading_zeros() {
    assert_eq!(
        ip_address(&json!("010.0.0.1")).unwrap_err(),
        "'010.0.0.1' is not an accepted IP address, '10.0.0.1' is recommended"
    );
    assert_eq!(ip_address(&json!("nope")).unwrap_err(), "'nope' is not a valid IP address");
    assert!(ip_address(&json!("fd00::1")).is_ok());
}

#[test]
fn cidrs_are_canonicalised() {
    assert_eq!(subnet_cidr(&json!("fd00:0:0::/64")).unwrap(), json!("fd00::/64"));
    assert_eq!(subnet_cidr(&json!("10.0.0.0/24")).unwrap(), json!("10.0.0.0/24"));
    assert!(subnet_cidr(&json!("10.0.0.0/33")).is_err());
}

#[test]
fn pools_need_exact_keys() {
    let err = ip_pools(&json!([{"start": "10.0.0.2"}])).unwrap_err();
    assert!(err.starts_with("Validation of dictionary's keys failed."), "{err}");
    assert!(ip_pools(&json!([{"start": "10.0.0.2", "end": "10.0.0.9"}])).is_ok());
}

#[test]
fn nameservers_reject_duplicates() {
    assert_eq!(nameservers(&json!(["8.8.8.8", "8.8.8.8"])).unwrap_err(), "Duplicate nameserver '8.8.8.8'");
}

#[test]
fn host_route_destination_must_be_network() {
    assert_eq!(
        host_routes(&json!([{"destination": "10.0.0.1/24", "nexthop": "10.0.0.1"}])).unwrap_err(),
        "'10.0.0.1/24' is not a valid CIDR"
    );
}

#[test]
fn dhcp_options_cannot_inject_lines() {
    assert!(extra_dhcp_opts(&json!([{"opt_name": "mtu", "opt_value": "1400"}])).is_ok());
    let err = extra_dhcp_opts(&json!([{"opt_name": "mtu", "opt_value": "1400\ndhcp-option=6,1.2.3.4"}])).unwrap_err();
    assert!(err.starts_with("Multi-line string is not allowed"), "{err}");
    assert!(extra_dhcp_opts(&json!([{"opt_name": "bad\rname", "opt_value": "x"}])).is_err());
    assert!(extra_dhcp_opts(&json!([{"opt_name": "mtu"}])).is_err(), "opt_value is required");
    assert!(extra_dhcp_opts(&json!([{"opt_name": "mtu", "opt_value": ""}])).is_err());
    assert!(extra_dhcp_opts(&json!([{"opt_name": "router", "opt_value": ""}])).is_ok(), "router may be blank");
    // Lists stay allowed; a comma-injected second option or tag does not.
    assert!(extra_dhcp_opts(&json!([{"opt_name": "dns-server", "opt_value": "10.0.0.1,10.0.0.2"}])).is_ok());
    assert!(extra_dhcp_opts(&json!([{"opt_name": "121", "opt_value": "10.9.0.0/16,10.0.0.1"}])).is_ok());
    for v in ["10.0.0.1,option:dns-server,6.6.6.6", "x, tag:evil", "1,OPTION6:23,::1", "a,set:known"] {
        let e = extra_dhcp_opts(&json!([{"opt_name": "router", "opt_value": v}])).unwrap_err();
        assert!(e.contains("keyword"), "{v}: {e}");
    }
    for n in ["router,option:dns-server", "tag:x", "-router", "a b"] {
        assert!(extra_dhcp_opts(&json!([{"opt_name": n, "opt_value": "1"}])).is_err(), "{n}");
    }
}

#[test]
fn fixed_ips_reject_duplicates_and_bad_subnet() {
    assert_eq!(
        fixed_ips(&json!([{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}])).unwrap_err(),
        "Duplicate IP address '10.0.0.5'"
    );
    assert_eq!(fixed_ips(&json!([{"subnet_id": "x"}])).unwrap_err(), "'x' is not a valid UUID");
}

/// The set-based checks find a duplicate wherever it is, also far down a long list, and
/// accept long lists without one.
#[test]
fn duplicate_checks_are_set_based_and_exact() {
    let many_ips: Vec<Value> = (0..20_000u32)
        .map(|i| json!({"ip_address": format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)}))
        .collect();
    assert_eq!(fixed_ips(&Value::Array(many_ips.clone())).unwrap().as_array().map(Vec::len), Some(20_000));
    let mut with_dup = many_ips;
    with_dup.push(json!({"ip_address": "10.0.78.31"}));
    assert_eq!(fixed_ips(&Value::Array(with_dup)).err().as_deref(), Some("Duplicate IP address '10.0.78.31'"));
    // An invalid address is reported as invalid, also when repeated.
    assert_eq!(
        fixed_ips(&json!([{"ip_address": "x"}, {"ip_address": "x"}])).unwrap_err(),
        "'x' is not a valid IP address"
    );

    let servers: Vec<Value> = (0..5_000u32).map(|i| json!(format!("10.1.{}.{}", i >> 8, i & 255))).collect();
    assert!(nameservers(&Value::Array(servers.clone())).is_ok());
    let mut dup = servers;
    dup.push(json!("10.1.0.7"));
    assert_eq!(nameservers(&Value::Array(dup)).err().as_deref(), Some("Duplicate nameserver '10.1.0.7'"));

    let routes = json!([
        {"destination": "10.2.0.0/24", "nexthop": "10.0.0.1"},
        {"destination": "10.2.0.0/24", "nexthop": "10.0.0.2"},
        {"destination": "10.3.0.0/24", "nexthop": "10.0.0.1"},
    ]);
    assert!(host_routes(&routes).is_ok(), "same destination, other next hop is no duplicate");
    let err = host_routes(&json!([
        {"destination": "10.2.0.0/24", "nexthop": "10.0.0.1"},
        {"nexthop": "10.0.0.1", "destination": "10.2.0.0/24"},
    ]))
    .unwrap_err();
    assert!(err.starts_with("Duplicate hostroute"), "{err}");
}

#[test]
fn address_pair_duplicates_compare_mac_and_canonical_ip() {
    assert!(allowed_address_pairs(&json!([
        {"ip_address": "10.0.0.5"},
        {"ip_address": "10.0.0.5", "mac_address": "fa:16:3e:00:00:01"},
        {"ip_address": "10.0.0.5", "mac_address": "fa:16:3e:00:00:02"},
    ]))
    .is_ok());
    let err = allowed_address_pairs(&json!([
        {"ip_address": "fd00::5", "mac_address": "FA:16:3E:00:00:01"},
        {"ip_address": "fd00:0::5", "mac_address": "fa:16:3e:00:00:01"},
    ]))
    .unwrap_err();
    assert_eq!(err.kind, "DuplicateAddressPairInRequest");
    assert_eq!(
        err.message,
        "Request contains duplicate address pair: mac_address fa:16:3e:00:00:01 ip_address fd00::5."
    );
    let err =
        allowed_address_pairs(&json!([{"ip_address": "10.0.0.0/24"}, {"ip_address": "10.0.0.0/24"}])).unwrap_err();
    assert_eq!(err.message, "Request contains duplicate address pair: mac_address None ip_address 10.0.0.0/24.");
}

#[test]
fn client_id_cannot_add_fields_to_the_hosts_line() {
    for ok in ["01:fa:16:3e:00:00:01", "my-host.example", "*"] {
        assert!(extra_dhcp_opts(&json!([{"opt_name": "client-id", "opt_value": ok}])).is_ok(), "{ok}");
    }
    for name in ["client-id", "61", "Client-ID"] {
        for bad in ["id1,10.0.0.99", "a,set:evil", "a b", "\"quoted\"", "a\\,b", "tab\there"] {
            let err = extra_dhcp_opts(&json!([{"opt_name": name, "opt_value": bad}])).unwrap_err();
            assert!(err.contains("is not a valid client-id"), "{name}={bad}: {err}");
        }
    }
    // Other options keep their comma-separated lists.
    assert!(extra_dhcp_opts(&json!([{"opt_name": "ntp-server", "opt_value": "10.0.0.1,10.0.0.2"}])).is_ok());
}
