//! Catalogue: address groups (`address-group`, neutron-lib's `exceptions.address_group`).

use crate::error::ApiError;

/// Python's `repr` of a list of strings, as Neutron's messages print `%(addresses)s`.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|a| format!("'{a}'")).collect();
    format!("[{}]", quoted.join(", "))
}

impl ApiError {
    /// `AddressGroupInUse` (409): a security group rule names the group as its remote.
    pub fn address_group_in_use(id: &str) -> Self {
        Self::conflict(
            "AddressGroupInUse",
            format!("Address group {id} is in use on one or more security group rules."),
        )
    }

    /// `AddressesNotFound` (404): `remove_addresses` names addresses the group lacks.
    pub fn addresses_not_found(addresses: &[String], id: &str) -> Self {
        Self::new(
            404,
            "AddressesNotFound",
            format!("Addresses {} not found in the address group {id}.", py_list(addresses)),
        )
    }

    /// `AddressesAlreadyExist` (400): `add_addresses` names addresses the group has.
    pub fn addresses_already_exist(addresses: &[String], id: &str) -> Self {
        Self::new(
            400,
            "AddressesAlreadyExist",
            format!("Addresses {} already exist in the address group {id}.", py_list(addresses)),
        )
    }

    /// netaddr's `AddrFormatError` (400), which Neutron's member actions let through for an
    /// address that is not a network.
    pub fn addr_format_error(given: &str) -> Self {
        Self::new(400, "AddrFormatError", format!("invalid IPNetwork {given}"))
    }

    /// `InvalidActionForType` (400): an RBAC action the object type does not have.
    pub fn invalid_action_for_type(action: &str, object_type: &str, valid: &[&str]) -> Self {
        let valid: Vec<String> = valid.iter().map(|a| format!("'{a}'")).collect();
        // Python prints a one-item tuple with a trailing comma.
        let tuple = if valid.len() == 1 { format!("({},)", valid[0]) } else { format!("({})", valid.join(", ")) };
        Self::new(
            400,
            "InvalidActionForType",
            format!("Invalid action '{action}' for object type '{object_type}'. Valid actions: {tuple}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_lists_as_python_does() {
        let e = ApiError::addresses_not_found(&["10.0.0.1/32".into(), "10.0.0.2/32".into()], "g");
        assert_eq!(e.message, "Addresses ['10.0.0.1/32', '10.0.0.2/32'] not found in the address group g.");
        let e = ApiError::invalid_action_for_type("access_as_external", "address_group", &["access_as_shared"]);
        assert_eq!(
            e.message,
            "Invalid action 'access_as_external' for object type 'address_group'. Valid actions: ('access_as_shared',)"
        );
    }
}
