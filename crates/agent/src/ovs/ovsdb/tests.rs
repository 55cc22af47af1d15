use super::*;

/// What `ovs-vsctl --format=json` printed for [`Vsctl::read`] on OVS 3.1 (br-int with
/// patch-tun tagged 5, br-tun with patch-int).
const LISTED: &str = r#"{"data":[["br-int","netdev",["set",[]],["set",[["uuid","1fd9abe6-0587-469a-bf79-cb08da12f0cd"],["uuid","b83428f7-299a-4d24-970b-016905451ea3"]]]],["br-tun","netdev","OpenFlow14",["uuid","ca381283-e71d-46f2-ad9a-36ab9b7a3247"]]],"headings":["name","datapath_type","protocols","ports"]}
{"data":[[["uuid","1fd9abe6-0587-469a-bf79-cb08da12f0cd"],"patch-tun",5,["map",[["net_uuid","1abc-d"]]],["uuid","1679665b-561e-4f05-a976-e97cab75a791"]],[["uuid","b83428f7-299a-4d24-970b-016905451ea3"],"br-int",["set",[]],["map",[]],["uuid","a9c2cafa-7278-4dd4-bf03-cdb3d72994e6"]],[["uuid","ca381283-e71d-46f2-ad9a-36ab9b7a3247"],"patch-int",["set",[]],["map",[]],["uuid","180587eb-dbf0-4b88-9547-31b6cb64d845"]]],"headings":["_uuid","name","tag","other_config","interfaces"]}
{"data":[[["uuid","a9c2cafa-7278-4dd4-bf03-cdb3d72994e6"],"br-int","internal",["map",[]],["map",[]],65534],[["uuid","1679665b-561e-4f05-a976-e97cab75a791"],"patch-tun","patch",["map",[["peer","patch-int"]]],["map",[["iface-id","p1"]]],["set",[]]],[["uuid","180587eb-dbf0-4b88-9547-31b6cb64d845"],"patch-int","patch",["map",[["peer","patch-tun"]]],["map",[]],1]],"headings":["_uuid","name","type","options","external_ids","ofport"]}
"#;

#[test]
fn decodes_bridges_ports_and_interfaces() {
    let s = decode(LISTED).unwrap();
    assert_eq!(s.bridges.keys().collect::<Vec<_>>(), ["br-int", "br-tun"]);
    let int = &s.bridges["br-int"];
    assert_eq!(int.datapath_type, "netdev");
    assert!(int.protocols.is_empty());
    assert_eq!(s.bridges["br-tun"].protocols, ["OpenFlow14"], "a one-member set is written as its atom");
    let patch = &int.ports["patch-tun"];
    assert_eq!(patch.tag, Some(5));
    assert_eq!(patch.other_config["net_uuid"], "1abc-d");
    let iface = &patch.interfaces[0];
    assert_eq!((iface.kind.as_str(), iface.options["peer"].as_str()), ("patch", "patch-int"));
    assert_eq!(iface.external_ids["iface-id"], "p1");
    assert_eq!(iface.ofport, None, "no port number yet");
    assert_eq!(int.ports["br-int"].interfaces[0].ofport, Some(65534));
    assert_eq!(int.ports["br-int"].tag, None);
    assert!(s.has_port("br-tun", "patch-int") && !s.has_port("br-tun", "patch-tun"));
}

#[test]
fn refuses_output_it_does_not_understand() {
    assert!(decode("{\"data\":[],\"headings\":[]}").unwrap_err().contains("1 tables"));
    assert!(decode("not json").is_err());
}

#[test]
fn commands_are_idempotent_and_quote_their_values() {
    let add =
        VsctlCommand::AddPatch { bridge: "br-int".into(), name: "int-br-eth1".into(), peer: "phy-br-eth1".into() };
    assert_eq!(
        add.to_string(),
        "ovs-vsctl --may-exist add-port br-int int-br-eth1 -- set Interface int-br-eth1 type=patch options:peer=\"phy-br-eth1\""
    );
    let set = VsctlCommand::SetPort {
        name: "qvo1".into(),
        tag: 3,
        other_config: [("net_uuid".to_string(), "0c1b-2a".to_string())].into(),
    };
    assert_eq!(set.args(), ["set", "Port", "qvo1", "tag=3", "other_config:net_uuid=\"0c1b-2a\""]);
    let br = VsctlCommand::AddBridge { name: "br-tun".into(), datapath_type: "netdev".into() };
    assert!(br.to_string().contains("--may-exist add-br br-tun -- set Bridge br-tun datapath_type=netdev fail_mode=secure protocols=OpenFlow10,OpenFlow13,OpenFlow14"));
    let del = VsctlCommand::DelPort { bridge: "br-tun".into(), name: "vxlan-c6120002".into() };
    assert_eq!(del.args(), ["--if-exists", "del-port", "br-tun", "vxlan-c6120002"]);
}
