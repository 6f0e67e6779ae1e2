"""What the browser tests share besides fixtures: the okrd binary run as a
daemon on a free port, a mock metric source, a small REST API client and a
polling helper. conftest.py turns these into fixtures."""

import datetime
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def okrd_bin():
    """The binary under test: $OKRD_BIN, else the debug build."""
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "debug" / "okrd"
    path = Path(os.environ.get("OKRD_BIN") or default)
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        raise RuntimeError(f"no okrd binary at {path}: run `cargo build` or set OKRD_BIN")
    return str(path)


def free_port():
    """A port nobody listens on right now (okrd needs it in its config, so
    port 0 will not do; Daemon.start retries if someone takes it first)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout=30.0, interval=0.5, what="the condition"):
    """Calls `check` until it returns something truthy and returns that;
    fails after `timeout` seconds. For what the daemon does on its own time
    (fetches, snapshots): generous, because 2 busy cores are slow."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def current_quarter(today=None):
    """(id, start, end) of the quarter holding today (UTC): the binary runs on
    the real clock, and only KRs in a current period are fetched."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    q = (today.month - 1) // 3
    start = datetime.date(today.year, 3 * q + 1, 1)
    nxt = datetime.date(today.year + 1, 1, 1) if q == 3 else datetime.date(today.year, 3 * q + 4, 1)
    return f"{today.year}-Q{q + 1}", start, nxt - datetime.timedelta(days=1)


def okrs_toml():
    """Teams acme ⊃ growth; an objective per kind of test, so one test's
    check-ins do not move another's progress; one file-managed KR."""
    pid, start, end = current_quarter()
    objectives = [
        ("opex", "Reduce cost of operations", "acme", None),
        ("reach", "Reach more people", "growth", "opex"),
        ("traffic", "Grow web traffic", "growth", None),
        ("adoption", "More teams use the product", "growth", None),
        ("trust", "Customers trust our product", "growth", None),
    ]
    out = [f'[[periods]]\nid = "{pid}"\nstart = "{start}"\nend = "{end}"\n',
           '[[teams]]\nid = "acme"\nname = "Acme"\n',
           '[[teams]]\nid = "growth"\nname = "Growth"\nparent = "acme"\n']
    for oid, title, team, parent in objectives:
        out.append(f'[[objectives]]\nid = "{oid}"\ntitle = "{title}"\nperiod = "{pid}"\nteam = "{team}"\n'
                   + (f'parent = "{parent}"\n' if parent else ""))
    out.append('[[key_results]]\nid = "calls"\nobjective = "opex"\nteam = "acme"\n'
               'owner = "ceo@acme.example"\ntitle = "Fewer calls to the call center"\n'
               'kind = "decrease"\nstart = 1000\ntarget = 500\n')
    return "\n".join(out)


# What the OKR file names: an anonymous visitor of a private installation sees none of it.
FILE_TITLES = ["Reduce cost of operations", "Reach more people", "Grow web traffic",
               "More teams use the product", "Customers trust our product",
               "Fewer calls to the call center"]


class MockSource:
    """An HTTP server answering GET /stats with {"visitors": value}; tests set `value`."""

    def __init__(self, value=100):
        self.value = value
        self.requests = 0
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                source.requests += 1
                body = json.dumps({"visitors": source.value}).encode()
                self.send_response(200 if self.path.startswith("/stats") else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass  # the daemon's log says what it fetched

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stats"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Response:
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def expect(self, status):
        assert self.status == status, f"expected {status}, got {self.status}: {self.body}"
        return self.body


def api_call(base, method, path, token=None, body=None):
    """`method /api/v1{path}` with a bearer token and a JSON body."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return Response(status, json.loads(raw) if raw else None)
    except ValueError:
        return Response(status, raw.decode(errors="replace"))


def kr_body(kr_id, objective, team, owner, **more):
    """A minimal KR, as tests/it/support/api.rs `kr_body` makes it."""
    body = {"id": kr_id, "objective": objective, "team": team, "owner": owner,
            "title": f"Key result {kr_id}", "kind": "increase", "start": 0, "target": 100}
    body.update(more)
    return body


class Daemon:
    """`okrd serve` on a config in its own temp dir, logging to a file there."""

    def __init__(self, name, status_page="private", source_url=None):
        self.name = name
        self.status_page = status_page
        self.source_url = source_url
        self.dir = tempfile.TemporaryDirectory(prefix=f"okrd-browser-{name}-")
        self.path = Path(self.dir.name)
        self.config = self.path / "okrd.toml"
        self.log_path = self.path / "okrd.log"
        self.proc = None
        self.base = None
        (self.path / "okrs.toml").write_text(okrs_toml())

    def _write_config(self, port):
        source = ""
        if self.source_url:
            source = (f'[[sources]]\nname = "web"\nconnector = "http_json"\ntimeout = "2s"\n'
                      f'retries = 0\n[sources.params]\nurl = "{self.source_url}"\nvalue = "$.visitors"\n')
        self.config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
status_page = "{self.status_page}"
[database]
url = "sqlite://{self.path / 'okrd.db'}"
[okrs]
files = ["okrs.toml"]
# The suite drafts many KRs in one daemon; the default limits (5) are for people.
max_krs_per_objective_per_team = 100
max_krs_per_owner_per_period = 100
[scheduler]
# Every 2 s (six fields: with seconds), so a changed source value shows within seconds.
default_schedule = "*/2 * * * * *"
jitter = "0s"
{source}""")

    def start(self, timeout=60.0):
        for _attempt in range(3):
            port = free_port()
            self._write_config(port)
            env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
            env.update(OKRD_LOG__LEVEL="info", OKRD_LOG__FORMAT="text")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([okrd_bin(), "serve", "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.path, env=env)
            log.close()
            self.base = f"http://127.0.0.1:{port}"
            if self._ready(timeout):
                return self
            if "cannot listen" not in self.log() and "in use" not in self.log():
                break  # not a lost race for the port: retrying would not help
        log = self.log()
        self.stop()
        raise RuntimeError(f"okrd serve ({self.name}) did not become ready; its log:\n{log}")

    def _ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def token(self, role, name, team=None):
        """`okrd token create`: a token for a running daemon (a member's team
        must exist, and the OKR file makes it when the daemon starts)."""
        args = [okrd_bin(), "token", "create", "--config", str(self.config),
                "--role", role, "--name", name] + (["--team", team] if team else [])
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        done = subprocess.run(args, capture_output=True, text=True, cwd=self.path, env=env,
                              stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 0, f"okrd token create failed: {done.stderr}"
        return done.stdout.strip()

    def api(self, method, path, token=None, body=None):
        return api_call(self.base, method, path, token, body)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM (a clean shutdown), SIGKILL when that takes too long; then
        the temp dir goes."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.dir.cleanup()


class Demo:
    """`okrd demo --listen 127.0.0.1:0`: its address, one-time link and tokens
    come from what it prints."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="okrd-browser-demo-")
        self.log_path = Path(self.dir.name) / "demo.log"
        self.name = "demo"
        self.out = []
        self.printed = threading.Event()
        self.proc = None

    def start(self, timeout=60.0):
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([okrd_bin(), "demo", "--listen", "127.0.0.1:0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=log, env=env, text=True)
        log.close()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.printed.wait(timeout):
            text = "".join(self.out)
            self.stop()
            raise RuntimeError(f"okrd demo printed no tokens in {timeout}s:\n{text}")
        fields = {}
        for line in self.out:
            words = line.split()
            if line.strip().startswith("web app"):
                fields["link"] = words[2]
            for role in ("admin", "leader", "member"):
                if words[:2] == [role, "token"]:
                    fields[role] = words[2]
        self.link = fields["link"]
        self.base = self.link.split("/sign-in")[0]
        self.tokens = fields
        return self

    def api(self, method, path, token=None, body=None):
        return api_call(self.base, method, path, token, body)

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            if line.strip().startswith("member token"):
                self.printed.set()

    def log(self):
        try:
            return "".join(self.out) + self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        # SIGTERM: the demo removes its temporary database and files itself.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.dir.cleanup()


def proposed_kr(daemon, member, body):
    """A KR drafted and proposed through the REST API by `member` (a token)."""
    daemon.api("POST", "/key-results", member, body).expect(201)
    daemon.api("POST", f"/key-results/{body['id']}/propose", member).expect(200)
    return body["id"]


def approved_kr(daemon, member, leader, body):
    """`proposed_kr`, then approved by `leader`: setup for what comes after."""
    kr = proposed_kr(daemon, member, body)
    daemon.api("POST", f"/key-results/{kr}/approve", leader).expect(200)
    return kr


def sign_in(page, base, token):
    """Signs the browser in as a person would: the form at /sign-in."""
    from playwright.sync_api import expect

    page.goto(f"{base}/sign-in")
    page.fill("#token", token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".who")).to_contain_text("Signed in as")


def fill_draft(page, fields):
    """Fills the draft form: text inputs by id, selects by value."""
    for name, value in fields.items():
        field = page.locator(f"#{name}")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
