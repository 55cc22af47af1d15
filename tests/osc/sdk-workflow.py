"""openstacksdk, unmodified, drives neutrino with its embedded Keystone:
    python3 tests/osc/sdk-workflow.py http://127.0.0.1:9696 ADMIN_PASSWORD

The calls are the ones Terraform-like tools and Ansible's openstack.cloud make through the
SDK: an application credential created by a member and then the only credential used;
a network/subnet/router (gateway on an admin-made external network, interfaces by subnet
and by port)/floating IP/security group lifecycle through `conn.network`, torn down in
reverse with `ignore_missing`; paginated listings that follow the `*_links` next markers;
and resource waits (`wait_for_status` on a port a stand-in host agent wires after a
moment, `wait_for_delete`). Every step asserts what it got; exits 0 only if all passed.
The stand-in agent speaks neutrino's agent API (/agent/v1), as a real host agent would.
"""

import sys
import threading
import time
import uuid

import openstack
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions

URL, ADMIN_PW = sys.argv[1], sys.argv[2]
S = uuid.uuid4().hex[:8]
HOST = f"sdk-host-{S}"


def step(what):
    print(f"== {what}", flush=True)


def check(cond, what, got=None):
    if not cond:
        raise SystemExit(f"CHECK FAILED: {what}" + ("" if got is None else f"\n  got: {got!r}"))


def password_conn(username, password, project):
    return openstack.connect(
        auth_url=f"{URL}/v3",
        username=username,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        identity_api_version="3",
    )


def appcred_conn(**auth):
    return openstack.connect(
        auth_type="v3applicationcredential",
        auth={"auth_url": f"{URL}/v3", **auth},
        identity_api_version="3",
    )


class PageCounter:
    """Records every GET the network proxy sends and the `*_links` each answer carried."""

    def __init__(self, proxy):
        self.calls = []
        inner = proxy.get

        def counting_get(url, *args, **kwargs):
            response = inner(url, *args, **kwargs)
            body = response.json() if response.status_code == 200 else {}
            links = next((v for k, v in body.items() if k.endswith("_links")), [])
            self.calls.append((url, dict(kwargs.get("params") or {}), links))
            return response

        proxy.get = counting_get
        self._proxy = proxy

    def stop(self):
        del self._proxy.get


def identity_setup(admin):
    step("admin: a project, a member user, the member role")
    project = admin.identity.create_project(name=f"sdk-proj-{S}", domain_id="default")
    user = admin.identity.create_user(name=f"sdk-user-{S}", password=f"pw-{S}", domain_id="default")
    role = admin.identity.find_role("member", ignore_missing=False)
    admin.identity.assign_project_role_to_user(project, user, role)
    check(admin.identity.validate_user_has_project_role(project, user, role), "member role assigned")
    return project, user


def application_credential(project, user):
    step("member: create an application credential with the SDK")
    member = password_conn(user.name, f"pw-{S}", project.name)
    expires = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86400))
    cred = member.identity.create_application_credential(
        user=user.id, name=f"sdk-cred-{S}", description="openstacksdk test", roles=[{"name": "member"}],
        expires_at=expires,
    )
    check(cred.secret, "the created credential carries its secret", cred)
    check([r["name"] for r in cred.roles] == ["member"] and not cred.unrestricted, "restricted to member", cred)
    check(cred.expires_at.startswith(expires), "expiry kept", cred.expires_at)
    check(cred.project_id == project.id, "credential scoped to the member's project", cred.project_id)
    listed = [c.name for c in member.identity.application_credentials(user=user.id)]
    check(f"sdk-cred-{S}" in listed, "the credential is listed", listed)
    found = member.identity.find_application_credential(user.id, cred.name)
    check(found is not None and found.id == cred.id, "find_application_credential by name", found)
    shown = member.identity.get_application_credential(user.id, cred.id)
    check(not shown.secret, "show does not repeat the secret", shown.secret)

    step("connect with auth_type=v3applicationcredential (id + secret, then name + user + secret)")
    conn = appcred_conn(application_credential_id=cred.id, application_credential_secret=cred.secret)
    check(conn.current_project_id == project.id, "token scoped to the credential's project", conn.current_project_id)
    check(conn.current_user_id == user.id, "token names the member", conn.current_user_id)
    by_name = appcred_conn(
        application_credential_name=cred.name,
        username=user.name,
        user_domain_name="Default",
        application_credential_secret=cred.secret,
    )
    check(by_name.current_project_id == project.id, "name + user auth scoped to the project")
    bad = appcred_conn(application_credential_id=cred.id, application_credential_secret="wrong")
    try:
        bad.authorize()
        check(False, "a wrong secret authenticated")
    except exceptions.SDKException as e:  # authorize() wraps keystoneauth's Unauthorized
        check("HTTP 401" in str(e), "a wrong secret is a 401", str(e))
    return member, conn, cred


def external_network(admin, project):
    step("admin: an external network with a subnet")
    ext = admin.network.create_network(name=f"sdk-public-{S}", is_router_external=True)
    check(ext.is_router_external, "the network is external", ext)
    ext_subnet = admin.network.create_subnet(
        network_id=ext.id, name=f"sdk-public-sub-{S}", ip_version=4, cidr="203.0.113.0/24",
        gateway_ip="203.0.113.1", is_dhcp_enabled=False,
    )
    check(ext_subnet.cidr == "203.0.113.0/24", "external subnet cidr", ext_subnet.cidr)
    step("admin: the project's network quotas")
    quota = admin.network.update_quota(project.id, floating_ips=5, security_group_rules=50)
    check((quota.floating_ips, quota.security_group_rules) == (5, 50), "update_quota", quota)
    details = admin.network.get_quota(project.id, details=True)
    check(details.floating_ips == {"limit": 5, "used": 0, "reserved": 0}, "get_quota(details=True)",
          details.floating_ips)
    return ext, ext_subnet


def lifecycle(conn, ext, ext_subnet, project):
    """The tenant's resources, created, checked and found; returns them in creation order."""
    net = conn.network
    step("network and subnet")
    network = net.create_network(name=f"sdk-net-{S}")
    check(network.project_id == project.id and network.status == "ACTIVE", "network created", network)
    check(net.find_network(network.name).id == network.id, "find_network by name")
    net.set_tags(network, ["sdk", f"run-{S}"])
    network = net.get_network(network.id)
    check(sorted(network.tags) == sorted(["sdk", f"run-{S}"]), "set_tags", network.tags)
    check([n.id for n in net.networks(tags=f"run-{S}")] == [network.id], "networks(tags=...)")
    check([n.id for n in net.networks(any_tags=f"run-{S},other", name=network.name)] == [network.id],
          "networks(any_tags=...)")
    network = net.update_network(network, description="guarded", if_revision=network.revision_number)
    check(network.description == "guarded", "update_network with if_revision (If-Match)", network)
    try:
        # A fresh object: the SDK sends a header only when it differs from the object's last one.
        net.update_network(net.get_network(network.id), description="stale", if_revision=network.revision_number - 1)
        check(False, "a stale revision was accepted")
    except exceptions.HttpException as e:
        check(e.status_code == 412, "a stale if_revision is a 412", e)
    subnet = net.create_subnet(
        network_id=network.id, name=f"sdk-sub-{S}", ip_version=4, cidr="10.42.0.0/24",
        dns_nameservers=["192.0.2.53"], allocation_pools=[{"start": "10.42.0.10", "end": "10.42.0.200"}],
    )
    check(subnet.gateway_ip == "10.42.0.1" and subnet.is_dhcp_enabled, "subnet defaults", subnet)
    check(subnet.dns_nameservers == ["192.0.2.53"], "subnet dns", subnet.dns_nameservers)
    subnet = net.update_subnet(subnet, description="updated by the sdk")
    check(net.get_subnet(subnet.id).description == "updated by the sdk", "update_subnet")
    check(net.find_subnet(subnet.name, network_id=network.id).id == subnet.id, "find_subnet")

    step("router with an external gateway, interfaces by subnet and by port")
    router = net.create_router(name=f"sdk-router-{S}", external_gateway_info={"network_id": ext.id})
    gw = router.external_gateway_info
    check(gw["network_id"] == ext.id, "gateway on the external network", gw)
    check(gw["external_fixed_ips"][0]["subnet_id"] == ext_subnet.id, "gateway address", gw)
    router = net.wait_for_status(router, "ACTIVE", interval=0.2, wait=10)
    result = net.add_interface_to_router(router, subnet_id=subnet.id)
    check(result["subnet_id"] == subnet.id and result["port_id"], "interface by subnet", result)
    iface_ports = list(net.ports(device_id=router.id, device_owner="network:router_interface"))
    check(len(iface_ports) == 1 and iface_ports[0].fixed_ips[0]["ip_address"] == "10.42.0.1", "interface port",
          iface_ports)
    subnet2 = net.create_subnet(network_id=network.id, name=f"sdk-sub2-{S}", ip_version=4, cidr="10.43.0.0/24")
    rport = net.create_port(network_id=network.id, name=f"sdk-rport-{S}",
                            fixed_ips=[{"subnet_id": subnet2.id, "ip_address": "10.43.0.5"}])
    result = net.add_interface_to_router(router, port_id=rport.id)
    check(result["port_id"] == rport.id and result["subnet_id"] == subnet2.id, "interface by port", result)
    check(net.get_port(rport.id).device_owner == "network:router_interface", "port owned by the router")
    routes = [{"destination": "172.16.0.0/16", "nexthop": "10.42.0.254"}]
    router = net.add_extra_routes_to_router(router, body={"router": {"routes": routes}})
    check(router.routes == routes, "add_extra_routes_to_router", router.routes)
    router = net.remove_extra_routes_from_router(router, body={"router": {"routes": routes}})
    check(router.routes == [], "remove_extra_routes_from_router", router.routes)
    check(net.find_router(router.name).id == router.id, "find_router")

    step("security group and rules")
    sg = net.create_security_group(name=f"sdk-sg-{S}", description="ssh and web")
    defaults = list(net.security_group_rules(security_group_id=sg.id))
    check(sorted(r.ether_type for r in defaults) == ["IPv4", "IPv6"] and
          all(r.direction == "egress" for r in defaults), "a new group allows egress", defaults)
    ssh = net.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
        remote_ip_prefix="198.51.100.0/24", ether_type="IPv4",
    )
    check((ssh.protocol, ssh.port_range_min, ssh.remote_ip_prefix) == ("tcp", 22, "198.51.100.0/24"),
          "ssh rule", ssh)
    peers = net.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="icmp", remote_group_id=sg.id, ether_type="IPv4",
    )
    check(peers.remote_group_id == sg.id and peers.port_range_min is None, "icmp from peers", peers)
    try:
        net.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
            remote_ip_prefix="198.51.100.0/24", ether_type="IPv4",
        )
        check(False, "a duplicate rule was accepted")
    except exceptions.ConflictException as e:
        check("already exists" in str(e), "duplicate rule refused", str(e))
    check(len(list(net.security_group_rules(security_group_id=sg.id))) == 4, "four rules")
    check(net.find_security_group(sg.name).id == sg.id, "find_security_group")

    step("a VM port in the group")
    vm = net.create_port(network_id=network.id, name=f"sdk-vm-{S}", security_group_ids=[sg.id],
                         fixed_ips=[{"subnet_id": subnet.id}], device_owner="compute:nova",
                         device_id=str(uuid.uuid4()))
    check(vm.status == "DOWN" and vm.security_group_ids == [sg.id], "new port is DOWN in the group", vm)
    return network, subnet, subnet2, rport, router, sg, ssh, peers, vm


def stand_in_agents(admin):
    """Registers a host's L2 and L3 agents, as neutrino-agent does on start."""
    for agent_type, configurations in [
        ("Linux bridge agent", {"tunnel_types": ["vxlan"], "tunneling_ip": "192.0.2.10"}),
        ("L3 agent", {"agent_mode": "legacy"}),
    ]:
        admin.session.post(f"{URL}/agent/v1/agents/report", json={
            "host": HOST, "agent_type": agent_type, "binary": "neutrino-agent",
            "configurations": configurations, "start_flag": True,
        }, raise_exc=True)
    agents = list(admin.network.agents(host=HOST))
    check(sorted(a.agent_type for a in agents) == ["L3 agent", "Linux bridge agent"], "agents listed", agents)


def report_later(admin, host=HOST, ports=None, floating_ips=None):
    """Reports, after a moment, what the stand-in host wired: the SDK's waits must wait."""

    def report():
        time.sleep(0.6)
        admin.session.post(f"{URL}/agent/v1/hosts/{host}/port-status", json={
            "host": host, "ports": ports or {}, "floating_ips": floating_ips or {},
        }, raise_exc=True)

    thread = threading.Thread(target=report)
    thread.start()
    return thread


def wired_port(conn, admin, vm):
    step("the host binds the VM port and wires it; wait_for_status(ACTIVE)")
    bound = admin.network.update_port(vm, binding_host_id=HOST)
    check(bound.binding_vif_type == "bridge", "port bound to the stand-in host", bound.binding_vif_type)
    thread = report_later(admin, ports={vm.id: "ACTIVE"})
    started = time.monotonic()
    vm = conn.network.wait_for_status(vm, "ACTIVE", interval=0.2, wait=10)
    thread.join()
    check(vm.status == "ACTIVE" and time.monotonic() - started > 0.3, "waited for the agent", vm.status)
    return vm


def floating_ip(conn, admin, ext, router, vm):
    net = conn.network
    step("floating IP: create, associate with update_ip, find, disassociate")
    fip = net.create_ip(floating_network_id=ext.id, description="sdk fip")
    check(fip.floating_ip_address.startswith("203.0.113.") and fip.port_id is None, "allocated", fip)
    fip = net.update_ip(fip, port_id=vm.id)
    vm_ip = vm.fixed_ips[0]["ip_address"]
    check(fip.port_id == vm.id and fip.fixed_ip_address == vm_ip, "associated", fip)
    check(fip.router_id is not None, "routed by the tenant router", fip)
    used = admin.network.get_quota(fip.project_id, details=True).floating_ips
    check(used["used"] == 1 and used["limit"] == 5, "the quota counts the floating IP", used)
    found = net.find_ip(fip.floating_ip_address)
    check(found is not None and found.id == fip.id, "find_ip by address", found)
    check([f.id for f in net.ips(port_id=vm.id)] == [fip.id], "ips(port_id=...)")
    by_ip = list(net.ports(fixed_ips=[f"ip_address={vm_ip}"], network_id=vm.network_id))
    check([p.id for p in by_ip] == [vm.id], "ports(fixed_ips=[ip_address=...])", by_ip)
    # The cloud layer (what Ansible's older modules call) over the same resources.
    check(conn.get_floating_ip(fip.id)["floating_ip_address"] == fip.floating_ip_address, "get_floating_ip")
    check([p["id"] for p in conn.search_ports(filters={"device_id": vm.device_id})] == [vm.id], "search_ports")
    fip = net.update_ip(fip, port_id=None)
    check(fip.port_id is None and fip.fixed_ip_address is None, "disassociated", fip)
    fip = net.update_ip(fip, port_id=vm.id)
    check(fip.port_id == vm.id and fip.status == "DOWN", "associated again, not yet wired", fip)

    step("the host's L3 agent runs the router and NATs the address; wait_for_status(ACTIVE)")
    # The stand-in's L3 agent is alone in a fresh server; one reused by earlier runs may
    # have other stand-ins, so report as whichever host got the router.
    deadline = time.monotonic() + 10
    while not (hosts := [a.host for a in admin.network.routers_hosting_l3_agents(router)]):
        check(time.monotonic() < deadline, "the router was scheduled to an L3 agent")
        time.sleep(0.1)
    check(len(hosts) == 1, "one L3 agent runs the router", hosts)
    thread = report_later(admin, host=hosts[0], floating_ips={fip.id: "ACTIVE"})
    fip = net.wait_for_status(fip, "ACTIVE", interval=0.2, wait=10)
    thread.join()
    check(fip.status == "ACTIVE", "floating IP wired", fip)
    return fip


def pagination(conn, network):
    """More ports than one page: the SDK follows `ports_links` until the last page."""
    net = conn.network
    step("pagination: 7 ports listed with limit=3")
    made = list(net.create_ports([{"network_id": network.id, "name": f"sdk-page-{S}-{i}"} for i in range(7)]))
    check(sorted(p.name for p in made) == [f"sdk-page-{S}-{i}" for i in range(7)], "create_ports (bulk)", made)
    counter = PageCounter(net)
    try:
        listed = list(net.ports(network_id=network.id, limit=3, sort_key="name", sort_dir="asc"))
    finally:
        counter.stop()
    names = [p.name for p in listed]
    expected = sorted(p.name for p in net.ports(network_id=network.id))
    check(names == expected, "every port once, in name order, across pages", names)
    check(len(counter.calls) >= 4, "one request per page", counter.calls)
    full, short = counter.calls[:3], counter.calls[3]
    for (_, _, links), (_, params, _) in zip(full, counter.calls[1:]):
        nxt = [link["href"] for link in links if link["rel"] == "next"]
        check(len(nxt) == 1, "a full page links to the next one", counter.calls)
        marker = params["marker"][0] if isinstance(params["marker"], list) else params["marker"]
        check(f"marker={marker}" in nxt[0], "the SDK asked for the linked marker", (nxt, params))
    check(not any(link["rel"] == "next" for link in short[2]), "the last, short page has no next link", short)
    check(all(str(p.get("limit")) in ("3", "['3']") for _, p, _ in counter.calls), "every page asked limit=3",
          counter.calls)

    one_page = list(net.ports(network_id=network.id, limit=3, paginated=False))
    check(len(one_page) == 3, "paginated=False stops after one page", len(one_page))
    capped = list(net.networks(max_items=1))
    check(len(capped) == 1, "max_items=1", capped)
    for port in made:
        net.delete_port(port)
    for port in made:
        net.wait_for_delete(port, interval=0.2, wait=10)
    check(net.find_port(made[0].name) is None, "paged ports are gone")


def teardown(conn, admin, ext, ext_subnet, network, subnet, subnet2, rport, router, sg, ssh, peers, vm, fip):
    net = conn.network
    step("teardown in reverse, with ignore_missing")
    net.delete_ip(fip)
    net.wait_for_delete(fip, interval=0.2, wait=10)
    check(net.find_ip(fip.floating_ip_address) is None, "floating IP gone")
    net.delete_ip(fip, ignore_missing=True)
    net.delete_port(vm)
    net.wait_for_delete(vm, interval=0.2, wait=10)
    net.delete_security_group_rule(peers)
    net.delete_security_group_rule(ssh, ignore_missing=False)
    try:
        net.delete_security_group_rule(ssh, ignore_missing=False)
        check(False, "a deleted rule was deleted again")
    except exceptions.NotFoundException:
        pass
    net.delete_security_group_rule(ssh, ignore_missing=True)
    net.delete_security_group(sg)
    check(net.find_security_group(sg.name) is None, "security group gone")
    try:
        net.delete_subnet(subnet)
        check(False, "a subnet with a router interface was deleted")
    except exceptions.ConflictException as e:
        check("One or more ports have an IP allocation from this subnet" in str(e), "subnet in use", str(e))
    net.remove_interface_from_router(router, port_id=rport.id)
    check(net.find_port(rport.name) is None, "removing an interface by port deletes the port")
    net.remove_interface_from_router(router, subnet_id=subnet.id)
    # Neutron has no remove_gateway_router action (the SDK's remove_gateway_from_router gets a
    # 404 there too): clients clear the gateway by updating the router, as Ansible's module does.
    router = net.update_router(router, external_gateway_info={})
    check(not router.external_gateway_info, "gateway cleared", router.external_gateway_info)
    net.delete_router(router)
    net.wait_for_delete(router, interval=0.2, wait=10)
    net.delete_router(router, ignore_missing=True)
    net.delete_subnet(subnet2)
    net.delete_subnet(subnet)
    net.delete_network(network)
    net.wait_for_delete(network, interval=0.2, wait=10)
    check(net.find_network(network.name) is None, "network gone")
    net.delete_network(network, ignore_missing=True)
    admin.network.delete_subnet(ext_subnet)
    admin.network.delete_network(ext)
    check(admin.network.find_network(ext.id) is None, "external network gone")


def main():
    admin = password_conn("admin", ADMIN_PW, "admin")
    project, user = identity_setup(admin)
    member, conn, cred = application_credential(project, user)
    ext, ext_subnet = external_network(admin, project)
    stand_in_agents(admin)
    network, subnet, subnet2, rport, router, sg, ssh, peers, vm = lifecycle(conn, ext, ext_subnet, project)
    vm = wired_port(conn, admin, vm)
    fip = floating_ip(conn, admin, ext, router, vm)
    pagination(conn, network)
    teardown(conn, admin, ext, ext_subnet, network, subnet, subnet2, rport, router, sg, ssh, peers, vm, fip)

    step("the member deletes the credential; it stops working")
    member.identity.delete_application_credential(user.id, cred.id)
    check(member.identity.find_application_credential(user.id, cred.id) is None, "credential gone")
    # Keystone answers an unknown credential id with 404 ApplicationCredentialNotFound.
    try:
        appcred_conn(application_credential_id=cred.id, application_credential_secret=cred.secret).authorize()
        check(False, "a deleted credential still authenticates")
    except exceptions.SDKException as e:
        check("Could not find Application Credential" in str(e), "a deleted credential is unknown", str(e))
    # Its token was revoked with it: the open connection cannot re-authenticate either.
    try:
        list(conn.network.networks())
        check(False, "a revoked credential's connection still lists networks")
    except ksa_exceptions.NotFound as e:  # keystoneauth's re-authentication after the 401
        check("Could not find Application Credential" in str(e), "the connection's token is revoked", str(e))
    admin.identity.delete_user(user)
    admin.identity.delete_project(project)
    print("openstacksdk workflow: all checks passed")


if __name__ == "__main__":
    main()
