-- The default security group rule templates (`security-groups-default-rules`): the rules
-- every new security group is made with. Project-less documents (`project_id` is ''), like
-- Neutron's `securitygroupdefaultrules`.
CREATE TABLE default_security_group_rules (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);

-- Neutron's legacy default set (its migration c33da356b165): egress to anywhere for every
-- group, ingress from the group's own members (PARENT) for each project's `default` group.
-- Seeded once, with the database: templates an operator deletes stay deleted.
INSERT INTO default_security_group_rules (id, project_id, body) VALUES
('2cc0a893-4a02-45f7-80ce-70e73e9fd842', '',
 '{"id":"2cc0a893-4a02-45f7-80ce-70e73e9fd842","ethertype":"IPv4","direction":"egress","protocol":null,"port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_address_group_id":null,"remote_group_id":null,"description":"Legacy default SG rule for egress traffic","used_in_default_sg":true,"used_in_non_default_sg":true}'),
('8c2d7b8f-980a-46b8-bd0e-500438bb9eee', '',
 '{"id":"8c2d7b8f-980a-46b8-bd0e-500438bb9eee","ethertype":"IPv6","direction":"egress","protocol":null,"port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_address_group_id":null,"remote_group_id":null,"description":"Legacy default SG rule for egress traffic","used_in_default_sg":true,"used_in_non_default_sg":true}'),
('1b847570-c74e-442b-a628-9741de7726a4', '',
 '{"id":"1b847570-c74e-442b-a628-9741de7726a4","ethertype":"IPv4","direction":"ingress","protocol":null,"port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_address_group_id":null,"remote_group_id":"PARENT","description":"Legacy default SG rule for ingress traffic","used_in_default_sg":true,"used_in_non_default_sg":false}'),
('24a7c043-400f-40ec-87d4-66d576a0a244', '',
 '{"id":"24a7c043-400f-40ec-87d4-66d576a0a244","ethertype":"IPv6","direction":"ingress","protocol":null,"port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_address_group_id":null,"remote_group_id":"PARENT","description":"Legacy default SG rule for ingress traffic","used_in_default_sg":true,"used_in_non_default_sg":false}');
