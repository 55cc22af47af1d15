"""Horizon, unmodified, in front of a running neutrino server, driven by headless Chromium.

    browser_test.py NEUTRINO_URL ADMIN_PASSWORD ARTEFACT_DIR

Run with the virtualenv made by scripts/install-horizon.sh (its python has Horizon and
selenium). As the bootstrap admin, through the APIs: a project, a member user and an external
network with a subnet. Then Horizon (Django's server, on a free loopback port, configured only
with the Keystone URL) and, as the member, in the browser: log in, list networks, create a
network with a subnet through the wizard, create a router on the external network and add an
interface on the new subnet through the forms, open the router's page and the network topology
(both views), list security groups, allocate a floating IP, log out. Each step saves a
screenshot in ARTEFACT_DIR and fails on Horizon's error pages and error messages; ARTEFACT_DIR
also gets Horizon's log, in which an error fails the run too. Exits 0 only if all passed.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 60  # seconds for a page or a modal form to appear (generous: CI shares 2 cores)


class StepFailed(Exception):
    pass


def api(method, url, token=None, body=None):
    """One JSON request; returns (headers, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raise StepFailed(f"{method} {url}: {err.code} {err.read().decode(errors='replace')}")


def admin_setup(url, admin_password, suffix):
    """The cloud a member finds: its project and user, and an external network with a subnet."""
    scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": "admin", "domain": {"id": "default"}, "password": admin_password}
            },
        },
        "scope": scope,
    }
    headers, _ = api("POST", f"{url}/v3/auth/tokens", body={"auth": auth})
    token = headers["X-Subject-Token"]
    project_body = {"project": {"name": f"horizon-{suffix}"}}
    _, project = api("POST", f"{url}/v3/projects", token, project_body)
    password = f"pw-{suffix}"
    user_body = {"user": {"name": f"member-{suffix}", "password": password}}
    _, user = api("POST", f"{url}/v3/users", token, user_body)
    _, roles = api("GET", f"{url}/v3/roles?name=member", token)
    role_id = roles["roles"][0]["id"]
    api(
        "PUT",
        f"{url}/v3/projects/{project['project']['id']}/users/{user['user']['id']}/roles/{role_id}",
        token,
    )
    ext_body = {"network": {"name": f"ext-{suffix}", "router:external": True}}
    _, ext = api("POST", f"{url}/v2.0/networks", token, ext_body)
    subnet_body = {
        "subnet": {
            "network_id": ext["network"]["id"],
            "cidr": "203.0.113.0/24",
            "ip_version": 4,
            "name": f"ext-subnet-{suffix}",
        }
    }
    api("POST", f"{url}/v2.0/subnets", token, subnet_body)
    return user["user"]["name"], password, ext["network"]["name"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_horizon(keystone_url, log_path, workdir):
    """Django's server with the installed dashboard; returns (process, base URL)."""
    port = free_port()
    env = dict(os.environ, NEUTRINO_HORIZON_KEYSTONE_URL=keystone_url, PYTHONUNBUFFERED="1")
    bin_dir = os.path.dirname(sys.executable)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            os.path.join(bin_dir, "django-admin"),
            "runserver",
            "--insecure",  # serve the collected static files without a web server
            "--noreload",
            f"127.0.0.1:{port}",
            "--settings",
            "openstack_dashboard.settings",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StepFailed(f"Horizon exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{base}/auth/login/", timeout=5) as resp:
                if resp.status == 200:
                    return proc, base
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.5)
    proc.kill()
    raise StepFailed(f"Horizon did not answer within 60 s; see {log_path}")


def start_browser(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in [
        "--headless",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        "--window-size=1400,1000",
    ]:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(WAIT * 2)
    return driver


class Walk:
    """The browser, numbered screenshots, and the checks every page gets."""

    def __init__(self, driver, base, artefacts):
        self.driver = driver
        self.base = base
        self.artefacts = artefacts
        self.count = 0

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, WAIT).until(condition)
        except TimeoutException:
            self.shot("timeout")
            raise StepFailed(f"timed out waiting for {what} on {self.driver.current_url}")

    def visible(self, by, value):
        return self.wait(ec.visibility_of_element_located((by, value)), f"{value} to show")

    def shot(self, name):
        self.count += 1
        path = os.path.join(self.artefacts, f"{self.count:02d}-{name}.png")
        self.driver.save_screenshot(path)
        print(f"   screenshot {path}", flush=True)

    def page_ok(self, name, must_contain=()):
        """Screenshot, then fail on an error page, an error message or missing text."""
        self.shot(name)
        body = self.driver.find_element(By.TAG_NAME, "body").text
        for marker in ("Something went wrong", "Server Error", "Page Not Found", "Not Found"):
            if marker in self.driver.title or body.startswith(marker):
                title, url = self.driver.title, self.driver.current_url
                raise StepFailed(f"{name}: error page '{title}' at {url}")
        errors = [
            e.text
            for e in self.driver.find_elements(By.CSS_SELECTOR, ".alert-danger, .alert-error")
            if e.is_displayed() and e.text.strip()
        ]
        if errors:
            raise StepFailed(f"{name}: error messages {errors} at {self.driver.current_url}")
        for text in must_contain:
            if text not in body:
                raise StepFailed(f"{name}: '{text}' not on {self.driver.current_url}")

    def go(self, path):
        self.driver.get(self.base + path)

    def modal(self, opener_id, first_field):
        """Clicks the button that opens a modal form; returns the modal once its form shows."""
        self.visible(By.ID, opener_id).click()
        located = ec.presence_of_element_located((By.CSS_SELECTOR, f".modal.in #{first_field}"))
        field = self.wait(located, f"the form with {first_field}")
        modal = field.find_element(By.XPATH, "./ancestor::div[contains(@class,'modal-content')]")
        return self.wait(ec.visibility_of(modal), f"the form with {first_field}")

    def choose(self, container, select_id, label):
        """Picks an option of a themable select as a person does: opens it, clicks the item."""
        select = container.find_element(By.ID, select_id)
        widget = select.find_element(
            By.XPATH, "./ancestor::div[contains(@class,'themable-select')]"
        )
        widget.find_element(By.CSS_SELECTOR, "button.dropdown-toggle").click()
        item = widget.find_element(By.XPATH, f".//ul/li/a[normalize-space()='{label}']")
        self.wait(ec.element_to_be_clickable(item), f"option {label}")
        item.click()

    def submit_modal(self, modal, what, button=".modal-footer .btn-primary"):
        """Submits a modal form and waits for the page Horizon loads after it succeeds."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        modal.find_element(By.CSS_SELECTOR, button).click()
        self.wait(ec.staleness_of(page), f"the page after the {what} form")


def walk(w, username, password, ext_name, suffix):
    net_name, subnet_name = f"net-{suffix}", f"subnet-{suffix}"
    networks(w, username, password, ext_name, net_name, subnet_name)
    routers_and_topology(w, ext_name, net_name, subnet_name, f"router-{suffix}")
    security_groups_and_floating_ips(w, ext_name)
    log_out(w)


def networks(w, username, password, ext_name, net_name, subnet_name):
    step("log in as the member")
    w.go("/auth/login/")
    w.visible(By.ID, "id_username").send_keys(username)
    w.driver.find_element(By.ID, "id_password").send_keys(password)
    w.shot("login-form")
    w.driver.find_element(By.ID, "loginBtn").click()
    w.wait(ec.url_changes(w.base + "/auth/login/"), "the login to finish")
    w.wait(lambda d: "/auth/login" not in d.current_url, "a page after the login")
    # Horizon lands on Compute's overview, which says "not authorized" without Nova in the
    # catalog (as in front of Keystone and Neutron alone); the user menu shows the login.
    w.page_ok("logged-in", [username])

    step("list networks")
    w.go("/project/networks/")
    w.visible(By.ID, "networks")
    w.page_ok("networks", [ext_name])

    step("create a network with a subnet through the wizard")
    modal = w.modal("networks__action_create", "id_net_name")
    modal.find_element(By.ID, "id_net_name").send_keys(net_name)
    w.shot("create-network")
    modal.find_element(By.CSS_SELECTOR, ".button-next").click()
    w.visible(By.ID, "id_subnet_name").send_keys(subnet_name)
    modal.find_element(By.ID, "id_cidr").send_keys("10.20.30.0/24")
    w.shot("create-network-subnet")
    modal.find_element(By.CSS_SELECTOR, ".button-next").click()
    w.visible(By.ID, "id_allocation_pools")
    w.shot("create-network-subnet-details")
    w.submit_modal(modal, "Create Network", ".button-final")
    w.wait(ec.presence_of_element_located((By.LINK_TEXT, net_name)), "the new network in the list")
    w.page_ok("network-created", [net_name, f"{subnet_name} 10.20.30.0/24"])

    step("open the new network")
    w.driver.find_element(By.LINK_TEXT, net_name).click()
    w.wait(ec.title_contains(net_name), "the network's page")
    w.page_ok("network-detail", [net_name])


def routers_and_topology(w, ext_name, net_name, subnet_name, router_name):
    step("create a router on the external network")
    w.go("/project/routers/")
    modal = w.modal("routers__action_create", "id_name")
    modal.find_element(By.ID, "id_name").send_keys(router_name)
    w.choose(modal, "id_external_network", ext_name)
    w.shot("create-router")
    w.submit_modal(modal, "Create Router")
    w.wait(ec.presence_of_element_located((By.LINK_TEXT, router_name)), "the new router")
    w.page_ok("router-created", [router_name, ext_name])

    step("open the router and add an interface on the new subnet")
    w.driver.find_element(By.LINK_TEXT, router_name).click()
    w.wait(ec.title_contains(router_name), "the router's page")
    w.page_ok("router-detail", [router_name, ext_name])
    interfaces_tab = w.driver.current_url.split("?")[0] + "?tab=router_details__interfaces"
    w.driver.get(interfaces_tab)
    modal = w.modal("interfaces__action_create", "id_subnet_id")
    w.choose(modal, "id_subnet_id", f"{net_name}: 10.20.30.0/24 ({subnet_name})")
    w.shot("add-interface")
    w.submit_modal(modal, "Add Interface")
    w.driver.get(interfaces_tab)
    w.wait(ec.text_to_be_present_in_element((By.ID, "interfaces"), "10.20.30.1"), "the interface")
    w.page_ok("router-interfaces", ["10.20.30.1", "Internal Interface"])

    step("open the network topology")
    w.go("/project/network_topology/")
    # The topology is drawn by JavaScript from /project/network_topology/json: wait for the
    # router and both networks to be drawn.
    for name in (router_name, net_name, ext_name):
        w.wait(
            ec.presence_of_element_located(
                (By.XPATH, f"//*[local-name()='svg']//*[text()='{name}']")
            ),
            f"{name} in the topology",
        )
    w.page_ok("network-topology")
    w.visible(By.LINK_TEXT, "Graph").click()
    w.wait(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#topologyCanvasContainer svg g.node")) >= 3,
        "the router and both networks in the graph",
    )
    time.sleep(2)  # the graph is a force layout: let it settle before the screenshot
    w.page_ok("network-topology-graph")


def security_groups_and_floating_ips(w, ext_name):
    step("list security groups: the project's default group")
    w.go("/project/security_groups/")
    w.visible(By.ID, "security_groups")
    w.page_ok("security-groups", ["default"])

    step("allocate a floating IP from the external network")
    w.go("/project/floating_ips/")
    modal = w.modal("floating_ips__action_allocate", "id_pool")
    w.choose(modal, "id_pool", ext_name)
    w.shot("allocate-floating-ip")
    w.submit_modal(modal, "Allocate IP")
    allocated = ec.text_to_be_present_in_element((By.ID, "floating_ips"), "203.0.113.")
    w.wait(allocated, "the floating IP")
    w.page_ok("floating-ips", [ext_name])


def log_out(w):
    step("log out")
    w.visible(By.CSS_SELECTOR, ".user-menu .dropdown-toggle").click()
    sign_out = w.visible(By.CSS_SELECTOR, ".user-menu form[action$='/auth/logout/'] button")
    w.shot("user-menu")
    sign_out.click()
    w.visible(By.ID, "id_username")
    w.page_ok("logged-out")
    # The session is gone: the network list sends the browser back to the login form.
    w.go("/project/networks/")
    w.visible(By.ID, "id_username")
    if "/auth/login/" not in w.driver.current_url:
        raise StepFailed(f"after logging out, /project/networks/ showed {w.driver.current_url}")


def step(what):
    print(f"== {what}", flush=True)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: browser_test.py NEUTRINO_URL ADMIN_PASSWORD ARTEFACT_DIR")
    url, admin_password, artefacts = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    os.makedirs(artefacts, exist_ok=True)
    suffix = uuid.uuid4().hex[:8]
    step("admin creates a project, a member and an external network")
    username, password, ext_name = admin_setup(url, admin_password, suffix)
    with tempfile.TemporaryDirectory() as work:
        horizon, base = start_horizon(f"{url}/v3", os.path.join(artefacts, "horizon.log"), work)
        driver = None
        try:
            driver = start_browser(os.path.join(work, "chromium-profile"))
            w = Walk(driver, base, artefacts)
            try:
                walk(w, username, password, ext_name, suffix)
            except WebDriverException:
                w.shot("failed")
                raise
        except StepFailed as err:
            print(f"STEP FAILED: {err}", flush=True)
            return 1
        finally:
            if driver is not None:
                driver.quit()
            horizon.kill()
            horizon.wait()
    # An API call Horizon could not make shows as a message (checked on every page) and as
    # an error or a traceback in its log.
    with open(os.path.join(artefacts, "horizon.log")) as log:
        errors = [line for line in log if " ERROR " in line or line.startswith("Traceback")]
    if errors:
        print("STEP FAILED: errors in horizon.log:\n" + "".join(errors[:20]), flush=True)
        return 1
    print(f"horizon browser test: all steps passed; screenshots in {artefacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
