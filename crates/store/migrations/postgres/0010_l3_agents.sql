-- Which L3 agent runs which router (Neutron's routerl3agentbindings).
CREATE TABLE router_l3_agents (
    router_id TEXT COLLATE "C" NOT NULL REFERENCES routers (id) ON DELETE CASCADE,
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (router_id, agent_id)
);
CREATE INDEX router_l3_agents_agent_id ON router_l3_agents (agent_id);
