"""Asserts what issue 14 asks of okrd's rendered Kubernetes manifests.

Schemas say an object is well-formed; this says it is the deployment we
mean: non-root pods with a read-only root filesystem, requests, limits and
probes; migrations before the daemon; the references between objects
resolve; and per overlay, SQLite as one Recreate'd pod on a volume,
PostgreSQL as several replicas spread over nodes with a disruption budget.
It also runs the okrd binary on the rendered config (`okrd check`) and,
for SQLite, migrates a database at the rendered URL's form.

Usage: k8s_policy.py --okrd BIN --version X.Y.Z sqlite|postgres RENDERED.yaml
"""

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml

CONFIG = "/etc/okrd/okrd.toml"
# Secrets the operator creates (deploy/kubernetes/README.md), per overlay.
EXTERNAL_SECRETS = {"sqlite": {"okrd-sources"}, "postgres": {"okrd-sources", "okrd-database"}}

problems = []


def check(ok, message):
    if not ok:
        problems.append(message)
    return ok


def seconds(duration):
    """'10s', '1m', '1h30m' -> seconds (okrd's durations, enough of them)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--okrd", required=True)
    ap.add_argument("--version", required=True, help="okrd's version: the image tag")
    ap.add_argument("overlay", choices=sorted(EXTERNAL_SECRETS))
    ap.add_argument("rendered")
    args = ap.parse_args()

    objs = [o for o in yaml.safe_load_all(open(args.rendered)) if o]
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)

    def one(kind):
        found = by_kind.get(kind, [])
        check(len(found) == 1, f"expected one {kind}, found {len(found)}")
        return found[0] if found else {}

    dep = one("Deployment")
    svc = one("Service")
    smon = one("ServiceMonitor")
    sa = one("ServiceAccount")
    cm = one("ConfigMap")
    if problems:
        return report()

    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    check(matches(spec["selector"]["matchLabels"], pod_labels),
          "Deployment selector does not match its pod labels")
    containers = pod["containers"]
    inits = pod.get("initContainers", [])
    psc = pod.get("securityContext", {})

    # --- every container: non-root, read-only root, least privilege, resources
    for c in containers + inits:
        n = f"container {c['name']}"
        sc = c.get("securityContext", {})
        eff = lambda k: sc.get(k, psc.get(k))  # noqa: E731 (container wins over pod)
        check(eff("runAsNonRoot") is True, f"{n}: runAsNonRoot is not true")
        check(eff("runAsUser") not in (None, 0), f"{n}: runAsUser is unset or 0")
        check(sc.get("readOnlyRootFilesystem") is True, f"{n}: readOnlyRootFilesystem is not true")
        check(sc.get("allowPrivilegeEscalation") is False, f"{n}: allowPrivilegeEscalation is not false")
        check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{n}: capabilities do not drop ALL")
        check((eff("seccompProfile") or {}).get("type") == "RuntimeDefault",
              f"{n}: seccompProfile is not RuntimeDefault")
        res = c.get("resources", {})
        for r in ("cpu", "memory"):
            check(r in res.get("requests", {}), f"{n}: no {r} request")
        check("memory" in res.get("limits", {}), f"{n}: no memory limit")
        check(c.get("image") == f"okrd:{args.version}",
              f"{n}: image {c.get('image')!r}, expected okrd:{args.version} (Cargo.toml's version)")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        check(mounts.get("/etc/okrd", {}).get("readOnly") is True, f"{n}: /etc/okrd is not mounted read-only")
        check("/tmp" in mounts, f"{n}: no writable /tmp beside the read-only root")
    check(psc.get("runAsNonRoot") is True, "pod: runAsNonRoot is not true")
    check(pod.get("automountServiceAccountToken") is False, "pod: automountServiceAccountToken is not false")
    check(pod.get("serviceAccountName") == sa["metadata"]["name"], "pod: not run as the rendered ServiceAccount")
    check(sa.get("automountServiceAccountToken") is False, "ServiceAccount: automountServiceAccountToken is not false")

    # --- the daemon
    okrd = next((c for c in containers if c["name"] == "okrd"), None)
    if not check(okrd is not None, "no container named okrd"):
        return report()
    check(okrd.get("args") == ["serve", "--config", CONFIG], f"okrd: args are {okrd.get('args')}")
    env = {e["name"]: e for e in okrd.get("env", [])}
    check(env.get("OKRD_SERVER__LISTEN", {}).get("value") == "0.0.0.0:9785", "okrd: OKRD_SERVER__LISTEN is not 0.0.0.0:9785")
    db_ref = env.get("OKRD_DATABASE__URL", {}).get("valueFrom", {}).get("secretKeyRef")
    check(db_ref is not None, "okrd: OKRD_DATABASE__URL does not come from a Secret")
    check(any("secretRef" in e for e in okrd.get("envFrom", [])), "okrd: no envFrom Secret for the sources")
    ports = {p["name"]: p["containerPort"] for p in okrd.get("ports", [])}
    check(ports.get("http") == 9785, "okrd: no port http = 9785")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = okrd.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("http", 9785), f"okrd: {probe} is not GET {path} on port http")
    for c in containers:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            check(probe in c, f"container {c['name']}: no {probe}")

    # --- migrations before the daemon, against the same database
    migrate = [c for c in inits if c.get("args", [])[:1] == ["migrate"]]
    if check(len(migrate) == 1, "no init container running `okrd migrate`"):
        m = migrate[0]
        check(m["args"] == ["migrate", "--config", CONFIG], f"migrate: args are {m['args']}")
        m_env = {e["name"]: e for e in m.get("env", [])}
        check(m_env.get("OKRD_DATABASE__URL", {}).get("valueFrom", {}).get("secretKeyRef") == db_ref,
              "migrate: OKRD_DATABASE__URL differs from the daemon's")

    # --- references resolve: volumes, ConfigMap keys, Secrets
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in containers + inits:
        for m in c.get("volumeMounts", []):
            check(m["name"] in volumes, f"container {c['name']}: mounts missing volume {m['name']}")
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    cfg_vol = next((v for v in volumes.values() if "configMap" in v), None)
    if check(cfg_vol is not None, "no ConfigMap volume"):
        check(cfg_vol["configMap"]["name"] == cm["metadata"]["name"], "the config volume names no rendered ConfigMap")
        check({"okrd.toml", "okrs.toml"} <= set(cm.get("data", {})), "ConfigMap lacks okrd.toml or okrs.toml")
    check(volumes.get("tmp", {}).get("emptyDir") is not None, "no emptyDir volume tmp")
    secret_refs = {db_ref["name"]} if db_ref else set()
    secret_refs |= {e["secretRef"]["name"] for e in okrd.get("envFrom", []) if "secretRef" in e}
    for s in secret_refs:
        check(("Secret", s) in names or s in EXTERNAL_SECRETS[args.overlay],
              f"Secret {s} is neither rendered nor one the README has the operator create")
    for v in volumes.values():
        claim = v.get("persistentVolumeClaim", {}).get("claimName")
        if claim:
            check(("PersistentVolumeClaim", claim) in names, f"volume {v['name']}: no rendered PVC {claim}")

    # --- Service, ServiceMonitor, NetworkPolicy fit the pods
    sp = svc["spec"]
    check(sp.get("type", "ClusterIP") == "ClusterIP", "Service is not ClusterIP")
    check(matches(sp.get("selector"), pod_labels), "Service selector does not match the pods")
    check(any(p.get("name") == "http" and p.get("targetPort") in ("http", 9785) for p in sp["ports"]),
          "Service has no port http to the pods' http")
    check(matches(smon["spec"]["selector"].get("matchLabels"), svc["metadata"].get("labels", {})),
          "ServiceMonitor selector does not match the Service")
    check(any(e.get("port") == "http" and e.get("path", "/metrics") == "/metrics" for e in smon["spec"]["endpoints"]),
          "ServiceMonitor does not scrape /metrics on port http")
    pols = by_kind.get("NetworkPolicy", [])
    mine = [p for p in pols if matches(p["spec"]["podSelector"].get("matchLabels"), pod_labels)]
    check(mine, "no NetworkPolicy selects the pods")
    ingress = [r for p in mine if "Ingress" in p["spec"].get("policyTypes", []) for r in p["spec"].get("ingress", [])]
    check(ingress, "no NetworkPolicy limits ingress")
    for r in ingress:
        check([p.get("port") for p in r.get("ports", [])] in ([9785], ["http"]),
              "a NetworkPolicy ingress rule admits more than port 9785")
        check(r.get("from"), "a NetworkPolicy ingress rule admits every source")
    egress_ports = {p.get("port") for pol in mine if "Egress" in pol["spec"].get("policyTypes", [])
                    for r in pol["spec"].get("egress", []) for p in r.get("ports", [])}
    check({53, 443} <= egress_ports, f"egress lacks DNS (53) or HTTPS (443): {sorted(egress_ports, key=str)}")

    # --- the config the pods get, and the shutdown and connection budget
    config = tomllib.loads(cm["data"]["okrd.toml"])
    server = config.get("server", {})
    for key in ("max_connections", "header_read_timeout", "idle_timeout", "request_timeout", "shutdown_grace"):
        check(key in server, f"okrd.toml: [server] {key} is not set explicitly")
    grace = seconds(server.get("shutdown_grace", "10s"))
    pre_stop = okrd.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_s = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
    check(pod.get("terminationGracePeriodSeconds", 30) > grace + pre_stop_s,
          f"terminationGracePeriodSeconds must exceed preStop {pre_stop_s}s + shutdown_grace {grace}s")
    interval = max(seconds(e.get("interval", "30s")) for e in smon["spec"]["endpoints"])
    check(interval < seconds(server.get("idle_timeout", "90s")),
          "the scrape interval must be below idle_timeout, or Prometheus reconnects every scrape")
    check(config.get("okrs", {}).get("files") == ["okrs.toml"], "okrd.toml: [okrs] files is not the ConfigMap's okrs.toml")

    # --- per overlay
    strategy = spec.get("strategy", {}).get("type", "RollingUpdate")
    url = None
    if args.overlay == "sqlite":
        check(spec.get("replicas") == 1, f"sqlite: replicas {spec.get('replicas')}, expected 1")
        check(strategy == "Recreate", f"sqlite: strategy {strategy}, expected Recreate")
        data = next((v for v in volumes.values() if "persistentVolumeClaim" in v), None)
        if check(data is not None, "sqlite: no PersistentVolumeClaim volume"):
            for c in [okrd] + migrate:
                check(any(m["name"] == data["name"] and m["mountPath"] == "/var/lib/okrd" and not m.get("readOnly")
                          for m in c.get("volumeMounts", [])), f"sqlite: {c['name']} does not mount the PVC at /var/lib/okrd")
        secret = next((o for o in by_kind.get("Secret", []) if db_ref and o["metadata"]["name"] == db_ref["name"]), None)
        if check(secret is not None, "sqlite: the database URL's Secret is not rendered"):
            url = base64.b64decode(secret["data"][db_ref["key"]]).decode()
            check(url == "sqlite:///var/lib/okrd/okrd.db", f"sqlite: database URL {url!r}")
    else:
        check(spec.get("replicas", 1) >= 2, f"postgres: replicas {spec.get('replicas')}, expected 2 or more")
        check(strategy == "RollingUpdate", f"postgres: strategy {strategy}, expected RollingUpdate")
        check("PersistentVolumeClaim" not in by_kind, "postgres: a PVC, but the database is PostgreSQL")
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
                if matches(p["spec"]["selector"].get("matchLabels"), pod_labels)]
        if check(pdbs, "postgres: no PodDisruptionBudget selects the pods"):
            ps = pdbs[0]["spec"]
            check(ps.get("maxUnavailable") == 1 or 1 <= ps.get("minAvailable", 0) < spec["replicas"],
                  "postgres: the PDB must keep one pod and let drains take one")
        spread = [t for t in pod.get("topologySpreadConstraints", [])
                  if t["topologyKey"] == "kubernetes.io/hostname" and matches(t["labelSelector"].get("matchLabels"), pod_labels)]
        anti = [t for t in pod.get("affinity", {}).get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
                if t["topologyKey"] == "kubernetes.io/hostname"]
        check(spread or anti, "postgres: pods are not spread across nodes (kubernetes.io/hostname)")
        check(5432 in egress_ports, "postgres: no egress to the database (5432)")
        url = "postgres://okrd@db.invalid:5432/okrd"

    # --- the real binary on the rendered config, with the pod's environment
    if url:
        with tempfile.TemporaryDirectory() as tmp:
            for key, text in cm["data"].items():
                with open(os.path.join(tmp, key), "w") as f:
                    f.write(text)
            run_env = dict(os.environ, OKRD_SERVER__LISTEN=env["OKRD_SERVER__LISTEN"]["value"], OKRD_DATABASE__URL=url)
            r = subprocess.run([args.okrd, "check", "--config", os.path.join(tmp, "okrd.toml")],
                               env=run_env, capture_output=True, text=True)
            check(r.returncode == 0, f"okrd check on the rendered config failed:\n{r.stdout}{r.stderr}")
            if url.startswith("sqlite:///var/lib/okrd/"):
                # The URL's form, with the volume's path moved here.
                run_env["OKRD_DATABASE__URL"] = url.replace("/var/lib/okrd", tmp)
                for _ in range(2):  # the second run, as the next pod's, finds nothing to do
                    r = subprocess.run([args.okrd, "migrate", "--config", os.path.join(tmp, "okrd.toml")],
                                       env=run_env, capture_output=True, text=True)
                    check(r.returncode == 0, f"okrd migrate at the rendered SQLite URL failed:\n{r.stdout}{r.stderr}")
                check(os.path.exists(os.path.join(tmp, "okrd.db")), "okrd migrate made no okrd.db on the volume's path")

    return report(args)


def report(args=None):
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems and args:
        print(f"ok   {args.overlay}: {args.rendered} has what issue 14 asks")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
