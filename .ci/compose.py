#!/usr/bin/env python3
"""Checks deploy/compose/compose.yaml for .ci/compose (needs jsonschema, PyYAML).

  compose.py check COMPOSE_FILE SCHEMA   exit 1 listing every problem
  compose.py prometheus COMPOSE_FILE DIR lay out the Prometheus service's
                                         mounted files under DIR, as the
                                         container sees them, for promtool

SCHEMA is the Compose Specification's JSON schema. Beyond it: every file
and folder mounted or built from exists, images are pinned, and the
services agree with each other (okrd reaches PostgreSQL with its
credentials once it is healthy, Prometheus scrapes okrd's port with the
rules loaded, Grafana's data source is that Prometheus).
"""

import json
import os
import shutil
import sys
import urllib.parse

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OKRD_PORT = "9785"
# The ports deploy/README.md documents.
PUBLISHED = {"okrd": "9785", "prometheus": "9090", "grafana": "3000"}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def binds(service, base):
    """(host path, container path) of each bind mount, short or long syntax."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
        else:
            if v.get("type") != "bind":
                continue
            src, dst = v["source"], v["target"]
        if src.startswith((".", "/", "~")):
            out.append((os.path.normpath(os.path.join(base, src)), dst))
    return out


def env_of(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.partition("=")[::2] for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def check(path, schema_path):
    problems = []
    rel = os.path.relpath(path, ROOT)
    doc = load(path)
    with open(schema_path) as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.path) or "(top)"
        problems.append(f"{rel}: {where}: {err.message}")
    if problems:
        return problems  # the rest assumes a valid shape

    base = os.path.dirname(path)
    services = doc.get("services", {})
    named_volumes = set(doc.get("volumes") or {})
    for name, svc in services.items():
        build = svc.get("build")
        if build is not None:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            ctx_path = os.path.normpath(os.path.join(base, ctx))
            if not os.path.isfile(os.path.join(ctx_path, dockerfile)):
                problems.append(f"{rel}: {name}: build context {ctx} has no {dockerfile}")
        image = svc.get("image", "")
        if build is None:
            tag = image.rsplit("/", 1)[-1]
            if ":" not in tag and "@" not in tag:
                problems.append(f"{rel}: {name}: image {image} is not pinned to a tag")
            elif tag.endswith(":latest"):
                problems.append(f"{rel}: {name}: image {image}: `latest` moves; pin a version")
        for src, dst in binds(svc, base):
            if not os.path.exists(src):
                problems.append(f"{rel}: {name}: mounts {os.path.relpath(src, ROOT)} (at {dst}), which does not exist")
        for v in svc.get("volumes", []):
            if isinstance(v, str) and not v.startswith((".", "/", "~")):
                vol = v.split(":")[0]
                if vol not in named_volumes:
                    problems.append(f"{rel}: {name}: volume {vol} is not declared under volumes:")
    for name, port in PUBLISHED.items():
        svc = services.get(name)
        if svc is None:
            problems.append(f"{rel}: no service {name}")
            continue
        published = [str(p.get("published")) if isinstance(p, dict)
                     else str(p).split(":")[-2] if ":" in str(p) else str(p)
                     for p in svc.get("ports", [])]
        if port not in published:
            problems.append(f"{rel}: {name} does not publish port {port}, which deploy/README.md documents")
    if problems:
        return problems

    okrd, pg = services["okrd"], services.get("postgres")
    if pg is None:
        return problems + [f"{rel}: no postgres service"]
    if "healthcheck" not in pg:
        problems.append(f"{rel}: postgres has no healthcheck, so okrd cannot wait for it")
    deps = okrd.get("depends_on", {})
    if not isinstance(deps, dict) or deps.get("postgres", {}).get("condition") != "service_healthy":
        problems.append(f"{rel}: okrd does not depend on postgres with condition service_healthy")
    url = urllib.parse.urlsplit(env_of(okrd).get("OKRD_DATABASE__URL", ""))
    pg_env = env_of(pg)
    want = {
        "scheme": ("postgres", url.scheme),
        "host": ("postgres", url.hostname),
        "port": (5432, url.port or 5432),
        "user": (pg_env.get("POSTGRES_USER", "postgres"), url.username),
        "password": (pg_env.get("POSTGRES_PASSWORD"), url.password),
        "database": (pg_env.get("POSTGRES_DB", pg_env.get("POSTGRES_USER", "postgres")), url.path.lstrip("/")),
    }
    for what, (expected, got) in want.items():
        if expected != got:
            problems.append(f"{rel}: okrd's OKRD_DATABASE__URL has {what} {got!r}, the postgres service {expected!r}")
    okrd_mounts = dict((dst, src) for src, dst in binds(okrd, base))
    if "/etc/okrd/okrd.toml" not in okrd_mounts:
        problems.append(f"{rel}: okrd has no config mounted at /etc/okrd/okrd.toml (the image's CMD reads it)")

    # Prometheus: the config it reads, the rules it names, the okrd it scrapes.
    prom_mounts = dict((dst, src) for src, dst in binds(services["prometheus"], base))
    prom_cfg = prom_mounts.get("/etc/prometheus/prometheus.yml")
    if prom_cfg is None:
        problems.append(f"{rel}: prometheus has no /etc/prometheus/prometheus.yml mounted")
    else:
        cfg = load(prom_cfg)
        targets = [t for job in cfg.get("scrape_configs", []) for sc in job.get("static_configs", [])
                   for t in sc.get("targets", [])]
        if f"okrd:{OKRD_PORT}" not in targets:
            problems.append(f"{os.path.relpath(prom_cfg, ROOT)}: does not scrape okrd:{OKRD_PORT}")
        rules_src = os.path.join(ROOT, "deploy/prometheus/okrd-rules.yml")
        for rf in cfg.get("rule_files", []):
            in_container = os.path.normpath(os.path.join("/etc/prometheus", rf))
            if in_container not in prom_mounts:
                problems.append(f"{os.path.relpath(prom_cfg, ROOT)}: rule file {rf} is not mounted at {in_container}")
        if os.path.normpath(rules_src) not in prom_mounts.values():
            problems.append(f"{rel}: prometheus does not mount deploy/prometheus/okrd-rules.yml")

    # Grafana: provisioning and dashboard where the provisioning looks.
    gf_mounts = dict((dst, src) for src, dst in binds(services["grafana"], base))
    expected = {
        "/etc/grafana/provisioning": os.path.join(ROOT, "deploy/grafana/provisioning"),
        "/var/lib/grafana/dashboards/okrd.json": os.path.join(ROOT, "deploy/grafana/okrd.json"),
    }
    for dst, src in expected.items():
        if gf_mounts.get(dst) != os.path.normpath(src):
            problems.append(f"{rel}: grafana does not mount {os.path.relpath(src, ROOT)} at {dst}")
    ds_dir = os.path.join(ROOT, "deploy/grafana/provisioning/datasources")
    if os.path.isdir(ds_dir):
        urls = []
        for f in sorted(os.listdir(ds_dir)):
            if f.endswith((".yaml", ".yml")):
                urls += [d.get("url") for d in (load(os.path.join(ds_dir, f)) or {}).get("datasources", [])
                         if d.get("type") == "prometheus"]
        if "http://prometheus:9090" not in urls:
            problems.append(f"deploy/grafana/provisioning/datasources: no Prometheus data source at "
                            f"http://prometheus:9090, the compose service (found {urls})")
    return problems


def lay_out_prometheus(path, dest):
    """Copy the Prometheus service's bind-mounted files to DEST + their
    container path, so promtool resolves rule_files as Prometheus would."""
    doc = load(path)
    for src, dst in binds(doc["services"]["prometheus"], os.path.dirname(path)):
        target = os.path.join(dest, dst.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, target)
    print(os.path.join(dest, "etc/prometheus/prometheus.yml"))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("check", "prometheus"):
        sys.exit(__doc__)
    if sys.argv[1] == "prometheus":
        lay_out_prometheus(os.path.abspath(sys.argv[2]), sys.argv[3])
        return
    problems = check(os.path.abspath(sys.argv[2]), sys.argv[3])
    for p in problems:
        print(f"FAIL: {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
