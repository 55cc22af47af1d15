-- Which DHCP agents serve which networks (Neutron's networkdhcpagentbindings).
CREATE TABLE network_dhcp_agents (
    network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (network_id, agent_id)
);
CREATE INDEX network_dhcp_agents_agent_id ON network_dhcp_agents (agent_id);
