use super::*;

/// Neutron's `updated` format, `YYYY-MM-DDThh:mm:ss±hh:mm`, with real calendar values.
fn is_neutron_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = s.get(range)?;
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let shape = b.len() == 25
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && matches!(b[19], b'+' | b'-')
        && b[22] == b':';
    if !shape {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else { return false };
    let (Some(hour), Some(minute), Some(second)) = (num(11..13), num(14..16), num(17..19)) else { return false };
    let (Some(offset_hours), Some(offset_minutes)) = (num(20..22), num(23..25)) else { return false };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && offset_hours < 24
        && offset_minutes < 60
}

#[test]
fn timestamp_checker_rejects_malformed_values() {
    assert!(is_neutron_timestamp("2012-09-07T10:00:00-00:00"));
    assert!(is_neutron_timestamp("2019-07-10T00:00:00+00:00"));
    assert!(!is_neutron_timestamp("2012-09-07T10:00:00Z"));
    assert!(!is_neutron_timestamp("2012-09-07 10:00:00-00:00"));
    assert!(!is_neutron_timestamp("2012-13-07T10:00:00-00:00"));
    assert!(!is_neutron_timestamp("2013-02-29T10:00:00-00:00"));
    assert!(!is_neutron_timestamp("2012-09-07T24:00:00-00:00"));
    assert!(!is_neutron_timestamp("2012-09-07T10:00:00*00:00"));
    assert!(!is_neutron_timestamp("2012-09-0xT10:00:00-00:00"));
}

#[test]
fn every_updated_is_a_neutron_timestamp() {
    for e in EXTENSIONS {
        if e.alias == "tag-creation" {
            // neutron-lib's own value is not a date; it is served as neutron-lib has it.
            assert_eq!(e.updated, "2024-23-07T10:00:00-00:00");
            continue;
        }
        assert!(is_neutron_timestamp(e.updated), "{}: {:?}", e.alias, e.updated);
    }
}

#[test]
fn aliases_are_unique() {
    let mut aliases: Vec<_> = EXTENSIONS.iter().map(|e| e.alias).collect();
    aliases.sort_unstable();
    aliases.dedup();
    assert_eq!(aliases.len(), EXTENSIONS.len());
}

#[test]
fn no_field_is_blank() {
    for e in EXTENSIONS {
        assert!(!e.name.trim().is_empty() && !e.description.trim().is_empty(), "{}", e.alias);
        assert_eq!(e.alias.trim(), e.alias);
    }
}

#[test]
fn find_matches_aliases_exactly() {
    let provider = find("provider").map(|e| e.name);
    assert_eq!(provider, Some("Provider Network"));
    assert!(find("Provider").is_none(), "aliases are case-sensitive");
    assert!(find("").is_none());
    for e in EXTENSIONS {
        assert_eq!(find(e.alias), Some(e));
    }
}

#[test]
fn unimplemented_extensions_are_not_advertised() {
    for alias in ["multi-provider", "sort-key-validation"] {
        assert!(find(alias).is_none(), "{alias}");
    }
}

#[test]
fn values_are_neutron_libs() {
    let extra_dhcp = find("extra_dhcp_opt").map(|e| e.description);
    assert_eq!(
        extra_dhcp,
        Some(
            "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be \
             specified (e.g. tftp-server, server-ip-address, bootfile-name)"
        )
    );
    let writable = find("net-mtu-writable").copied();
    assert_eq!(
        writable,
        Some(Extension {
            alias: "net-mtu-writable",
            name: "Network MTU (writable)",
            description: "Provides a writable MTU attribute for a network resource.",
            updated: "2017-07-12T00:00:00-00:00",
        })
    );
    assert_eq!(find("project-id").map(|e| e.updated), Some("2016-09-09T09:09:09-09:09"));
    assert_eq!(find("binding").map(|e| e.name), Some("Port Binding"));
    assert_eq!(find("ip-substring-filtering").map(|e| e.updated), Some("2017-11-28T09:00:00-00:00"));
}

#[test]
fn wire_form_has_neutrons_keys_and_empty_links() {
    let Some(ext) = find("external-net") else { panic!("external-net is implemented") };
    let value = ext.to_json();
    let keys: Vec<_> = value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(keys, ["name", "alias", "description", "updated", "links"]);
    assert_eq!(value["name"], "Neutron external network");
    assert_eq!(value["links"], json!([]));
    let serialized = serde_json::to_value(ext).map_err(|e| e.to_string());
    assert_eq!(serialized, Ok(value));
}
