#!/usr/bin/env python3
"""Provisions Tempest's accounts on a neutrino cloud and writes the workspace's tempest.conf.

Run by scripts/conformance.sh inside the controller's network namespace, with the tempest
virtualenv's Python. Everything goes through the cloud's own Keystone (/v3) and Networking
(/v2.0) APIs, as an operator would do it; only the standard library is used.

Accounts, as Tempest's pre-provisioned credentials want them at concurrency 2 (with room to
spare): per worker one project holding a `member` and a `reader` user (203 network tests use
`primary` together with `project_reader` of the same project), alt projects with a member,
and admin users with the `admin` role.
"""

import argparse
import json
import os
import secrets
import urllib.error
import urllib.request

WORKERS = 3  # member/reader projects: concurrency 2 plus one spare


def call(url, method="GET", token=None, body=None, expect=(200, 201, 204)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            if resp.status not in expect:
                raise RuntimeError(f"{method} {url}: {resp.status} {raw[:300]!r}")
            return resp, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {url}: {e.code} {e.read()[:300]!r}") from None


def admin_token(url, password):
    resp, _ = call(
        f"{url}/v3/auth/tokens",
        "POST",
        body={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    )
    return resp.headers["X-Subject-Token"]


def role_ids(url, token):
    _, roles = call(f"{url}/v3/roles", token=token)
    return {r["name"]: r["id"] for r in roles["roles"]}


def make_account(url, token, roles, project, user, role_names, password):
    _, p = call(f"{url}/v3/projects", "POST", token, {"project": {"name": project, "domain_id": "default"}})
    pid = p["project"]["id"]
    _, u = call(
        f"{url}/v3/users",
        "POST",
        token,
        {"user": {"name": user, "domain_id": "default", "password": password, "default_project_id": pid}},
    )
    uid = u["user"]["id"]
    for name in role_names:
        call(f"{url}/v3/projects/{pid}/users/{uid}/roles/{roles[name]}", "PUT", token)
    return pid, uid


def add_user(url, token, roles, pid, user, role_names, password):
    _, u = call(
        f"{url}/v3/users",
        "POST",
        token,
        {"user": {"name": user, "domain_id": "default", "password": password, "default_project_id": pid}},
    )
    for name in role_names:
        call(f"{url}/v3/projects/{pid}/users/{u['user']['id']}/roles/{roles[name]}", "PUT", token)


# Neutron's default quotas (10 routers) are fewer than one test class keeps until it ends
# (neutron-tempest-plugin's RoutersTest creates about 30 routers in one project), on
# upstream Neutron as here; the suites' CI raises them in configuration. Set per test
# project through the quotas API, as an operator would.
TEST_QUOTAS = {"router": 100, "floatingip": 500, "security_group": 150, "security_group_rule": 1000}


def raise_quotas(url, token, project_id):
    call(f"{url}/v2.0/quotas/{project_id}", "PUT", token, {"quota": TEST_QUOTAS})


def provision(url, token, suffix):
    roles = role_ids(url, token)
    password = secrets.token_urlsafe(16)
    accounts = []

    def account(user, project, project_id, role_names):
        # project_id too: Tempest's pre-provisioned credentials only learn it at their first
        # login, and some tests read `client.project_id` before that.
        raise_quotas(url, token, project_id)
        accounts.append({"username": user, "project_name": project, "project_id": project_id,
                         "password": password, "roles": role_names,
                         "user_domain_name": "Default", "project_domain_name": "Default"})

    # Alt accounts first: Tempest hands "alt" the first free non-admin account in file
    # order, and a reader there could not create what the alt tests create.
    for i in range(WORKERS):
        project = f"tempest-{suffix}-alt{i}"
        pid, _ = make_account(url, token, roles, project, f"tempest-{suffix}-altuser{i}", ["member"], password)
        account(f"tempest-{suffix}-altuser{i}", project, pid, ["member"])
    for i in range(WORKERS):
        project = f"tempest-{suffix}-p{i}"
        pid, _ = make_account(url, token, roles, project, f"tempest-{suffix}-member{i}", ["member"], password)
        account(f"tempest-{suffix}-member{i}", project, pid, ["member"])
        add_user(url, token, roles, pid, f"tempest-{suffix}-reader{i}", ["reader"], password)
        account(f"tempest-{suffix}-reader{i}", project, pid, ["reader"])
    for i in range(WORKERS):
        project = f"tempest-{suffix}-admin{i}"
        pid, _ = make_account(url, token, roles, project, f"tempest-{suffix}-admin{i}", ["admin"], password)
        account(f"tempest-{suffix}-admin{i}", project, pid, ["admin"])
    return accounts


def write_accounts(path, accounts):
    # YAML by hand (a list of flat mappings), so no YAML library is needed.
    with open(path, "w") as f:
        for a in accounts:
            f.write(f"- username: '{a['username']}'\n")
            f.write(f"  project_name: '{a['project_name']}'\n")
            f.write(f"  project_id: '{a['project_id']}'\n")
            f.write(f"  password: '{a['password']}'\n")
            f.write(f"  user_domain_name: '{a['user_domain_name']}'\n")
            f.write(f"  project_domain_name: '{a['project_domain_name']}'\n")
            f.write("  roles:\n")
            for r in a["roles"]:
                f.write(f"  - '{r}'\n")


def write_conf(path, url, accounts_file, public_net, extensions, workspace):
    conf = f"""[DEFAULT]
log_dir = {workspace}/logs
log_file = tempest.log

[oslo_concurrency]
lock_path = {workspace}/locks

[auth]
use_dynamic_credentials = false
test_accounts_file = {accounts_file}
create_isolated_networks = false
default_credentials_domain_name = Default

[identity]
uri_v3 = {url}/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public
disable_ssl_certificate_validation = true

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
neutron = true
nova = false
glance = false
cinder = false
swift = false
horizon = false

[network]
public_network_id = {public_net}
floating_network_name = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
build_timeout = 60
build_interval = 1
endpoint_type = publicURL

[network-feature-enabled]
api_extensions = {",".join(extensions)}
ipv6 = true
ipv6_subnet_attributes = true
port_security = true
floating_ips = true

[enforce_scope]
neutron = false

[validation]
run_validation = false

[neutron_plugin_options]
available_type_drivers = flat,vlan,vxlan
provider_vlans = physnet1
specify_floating_ip_address_available = true
agent_availability_zone = nova
"""
    with open(path, "w") as f:
        f.write(conf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--workspace", required=True)
    args = ap.parse_args()
    url = args.url.rstrip("/")
    token = admin_token(url, args.admin_password)
    suffix = secrets.token_hex(3)
    accounts = provision(url, token, suffix)
    accounts_file = os.path.join(args.workspace, "etc", "accounts.yaml")
    write_accounts(accounts_file, accounts)
    _, nets = call(f"{url}/v2.0/networks?name=public&router:external=true", token=token)
    if not nets["networks"]:
        raise SystemExit("the demo cloud has no external network named public")
    public_net = nets["networks"][0]["id"]
    _, exts = call(f"{url}/v2.0/extensions", token=token)
    aliases = sorted(e["alias"] for e in exts["extensions"])
    write_conf(os.path.join(args.workspace, "etc", "tempest.conf"), url, accounts_file, public_net, aliases,
               args.workspace)
    print(f"   {len(accounts)} accounts; public network {public_net}; {len(aliases)} extensions: {' '.join(aliases)}")


if __name__ == "__main__":
    main()
