//! The rule parser and evaluator.

use super::*;

fn creds<'a>(roles: &'a [String], project: &'a str) -> Creds<'a> {
    Creds { roles, project_id: project, is_admin: roles.iter().any(|r| r == "admin") }
}

#[test]
fn expressions_parse_and_evaluate() {
    let r = Rules::default();
    let member = vec!["member".to_string()];
    assert!(r.check("create_network", &creds(&member, "A"), &Target::owned_by("A")));
    assert!(!r.check("create_network", &creds(&member, "A"), &Target::owned_by("B")));
    assert!(!r.check("create_network:shared", &creds(&member, "A"), &Target::owned_by("A")));
    assert!(!r.check("no_such_rule", &creds(&member, "A"), &Target::owned_by("A")));
    assert_eq!(
        parse("not (role:a or !) and @").unwrap(),
        Expr::And(vec![Expr::Not(Box::new(Expr::Or(vec![Expr::Role("a".into()), Expr::Never]))), Expr::Always])
    );
    assert!(parse("role:a or").is_err());
    assert!(parse("field:networks").is_err());
    assert!(parse("field:port:device_owner=~network.*").is_err());
    assert!(parse("project_id:%(router:project_id)s").is_err());
}

#[test]
fn network_owner_shared_and_field_checks_read_the_target() {
    let r = Rules::default();
    let member = vec!["member".to_string()];
    let service = vec!["service".to_string()];
    let mut attrs = Map::new();
    attrs.insert("device_owner".into(), Value::String("network:router_interface".into()));
    let on = |owner: &'static str, shared: bool| Target {
        project_id: "B",
        network: Some(NetworkFacts { project_id: owner, shared }),
        attrs: Some(&attrs),
    };
    // B's port on A's network: B is not the network's owner.
    assert!(!r.check("create_port", &creds(&member, "B"), &on("A", false)));
    assert!(r.check("create_port", &creds(&member, "B"), &on("A", true)));
    assert!(r.check("create_port", &creds(&member, "A"), &on("A", false)));
    assert!(!r.check("create_port:mac_address", &creds(&member, "B"), &on("A", true)));
    assert!(r.check("create_port:mac_address", &creds(&service, "X"), &on("A", true)));
    // `network:*` owners only for the network's owner.
    assert!(!r.check("create_port:device_owner", &creds(&member, "B"), &on("A", true)));
    assert!(r.check("create_port:device_owner", &creds(&member, "A"), &on("A", true)));
    // The DHCP scheduler's owner is the server's (and admin's and the service's) only.
    attrs.insert("device_owner".into(), Value::String("network:dhcp".into()));
    let dhcp =
        Target { project_id: "A", network: Some(NetworkFacts { project_id: "A", shared: false }), attrs: Some(&attrs) };
    assert!(!r.check("create_port:device_owner", &creds(&member, "A"), &dhcp));
    assert!(r.check("create_port:device_owner", &creds(&service, "X"), &dhcp));
    attrs.insert("device_owner".into(), Value::String("compute:nova".into()));
    let plain =
        Target { project_id: "B", network: Some(NetworkFacts { project_id: "A", shared: true }), attrs: Some(&attrs) };
    assert!(r.check("create_port:device_owner", &creds(&member, "B"), &plain));
    // Without a network, the owner check fails closed.
    assert!(!r.check("network_owner", &creds(&member, "A"), &Target::owned_by("A")));
    let mut flags = Map::new();
    flags.insert("admin_state_up".into(), Value::Bool(false));
    let e = parse("field:ports:admin_state_up=False").unwrap();
    let t = Target { project_id: "A", network: None, attrs: Some(&flags) };
    assert!(r.eval(&e, &creds(&member, "A"), &t, 0));
}

#[test]
fn policy_files_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("policy.yaml");
    std::fs::write(
        &yaml,
        "# let members share networks\n\"create_network:shared\": \"rule:admin_only or rule:project_member\"\n",
    )
    .unwrap();
    let r = Rules::load(&yaml).unwrap();
    let member = vec!["member".to_string()];
    assert!(r.check("create_network:shared", &creds(&member, "A"), &Target::owned_by("A")));
    let json = dir.path().join("policy.json");
    std::fs::write(&json, r#"{"create_network": "!"}"#).unwrap();
    let r = Rules::load(&json).unwrap();
    assert!(!r.check("create_network", &creds(&["admin".to_string()], "A"), &Target::owned_by("A")));
    std::fs::write(&yaml, "\"create_network\": \"role:\"\n\"x\" \"y\"\n").unwrap();
    assert!(Rules::load(&yaml).is_err());
}
