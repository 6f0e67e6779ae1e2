"""Every query of deploy/grafana/okrd.json against real data.

Starts `okrd demo` and a real Prometheus scraping it every second (with
deploy/prometheus/okrd-rules.yml loaded), then does what Grafana would:
evaluates the template variables in order (chained), substitutes them into
every panel target, and runs each target as an instant query, and time
series panels also as a range query. Fails on any query error or empty
result, naming the panel and the query. Also checks the dashboard's shape:
schemaVersion, unique panel ids, the `${datasource}` uid everywhere, every
variable used defined, legends that name labels the result has, and table
queries that can be merged. Standard library only.

Run through .ci/grafana-queries.
"""

import argparse
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

DS = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana puts for its built-in interval variables; 1m of 1 s scrapes
# gives rate() plenty of samples.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
RANGE_SECONDS = 300
STEP = "15s"
VAR_REF = re.compile(r"\$(\w+)|\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}", flush=True)


# ---------- the dashboard's shape ----------


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows keep theirs inside


def static_checks(dash):
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 39:
        fail(f"schemaVersion is {dash.get('schemaVersion')!r}, want 39 or later")
    variables = dash.get("templating", {}).get("list", [])
    names = {v["name"] for v in variables}
    dsvars = [v for v in variables if v.get("name") == "datasource"]
    if not dsvars or dsvars[0].get("type") != "datasource" or dsvars[0].get("query") != "prometheus":
        fail("no template variable `datasource` of type datasource for prometheus")
    ids = {}
    for p in all_panels(dash):
        title = p.get("title", "?")
        if p.get("id") in ids:
            fail(f"panel id {p.get('id')} used by {ids[p['id']]!r} and {title!r}")
        ids[p.get("id")] = title
        if p.get("datasource") != DS:
            fail(f"panel {title!r}: datasource {p.get('datasource')!r}, want {DS}")
        for t in p.get("targets", []):
            if t.get("datasource") != DS:
                fail(f"panel {title!r} target {t.get('refId')}: datasource {t.get('datasource')!r}, want {DS}")
            for used in used_vars(t.get("expr", "")):
                if used not in names and used not in BUILTINS:
                    fail(f"panel {title!r} target {t.get('refId')}: ${used} is not defined")
    for v in variables:
        if v.get("type") == "query":
            if v.get("datasource") != DS:
                fail(f"variable {v['name']}: datasource {v.get('datasource')!r}, want {DS}")
            for used in used_vars(var_query(v)):
                if used not in names:
                    fail(f"variable {v['name']}: ${used} is not defined")
                elif [x["name"] for x in variables].index(used) > variables.index(v):
                    fail(f"variable {v['name']} uses ${used}, which comes after it")
    overlaps(dash)


def overlaps(dash):
    """Panels that cover the same grid cells hide each other in Grafana."""
    cells = {}
    for p in dash.get("panels", []):
        g = p.get("gridPos", {})
        for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
            for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                if (x, y) in cells:
                    fail(f"panels {cells[(x, y)]!r} and {p.get('title')!r} overlap at x={x} y={y}")
                    return
                cells[(x, y)] = p.get("title")
        if g.get("x", 0) + g.get("w", 0) > 24:
            fail(f"panel {p.get('title')!r} is wider than the grid")


def used_vars(text):
    return {a or b or c for a, b, c in VAR_REF.findall(text)}


def var_query(v):
    q = v.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else q


# ---------- Grafana's interpolation ----------


def regex_escape(value):
    # Grafana's prometheusSpecialRegexEscape: escapes doubled, since the
    # regex sits in a PromQL string.
    value = value.replace("\\", "\\" * 4)
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def render(v, selection):
    """A variable's value as Grafana writes it into a Prometheus query."""
    if selection == "$__all":
        if v.get("allValue"):
            return v["allValue"]
        selection = v["_options"]
    if not v.get("multi") and not v.get("includeAll"):
        return selection.replace("\\", "\\\\").replace("'", "\\'")
    values = [selection] if isinstance(selection, str) else selection
    escaped = [regex_escape(x) for x in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text, values):
    def sub(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in values:
            return values[name]
        return m.group(0)

    return VAR_REF.sub(sub, text)


# ---------- Prometheus ----------


class Prom:
    def __init__(self, url):
        self.url = url

    def get(self, path, params):
        q = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=20) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def instant(self, expr, at):
        return self.get("/api/v1/query", {"query": expr, "time": at})

    def range(self, expr, end):
        return self.get(
            "/api/v1/query_range",
            {"query": expr, "start": end - RANGE_SECONDS, "end": end, "step": STEP},
        )


class QueryError(Exception):
    pass


def label_values(prom, query, now):
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*", query, re.S)
    if not m:
        raise QueryError(f"unsupported variable query {query!r} (teach .ci/grafana_queries.py)")
    selector, label = m.group(1), m.group(2)
    params = {"start": now - RANGE_SECONDS, "end": now}
    if selector:
        params["match[]"] = selector
    return prom.get(f"/api/v1/label/{label}/values", params)


def sort_options(options, sort):
    # Grafana's sort: 1/2 alphabetical, 3/4 numerical, 5/6 case-insensitive; even = descending.
    if sort in (1, 2):
        options = sorted(options)
    elif sort in (3, 4):
        options = sorted(options, key=lambda s: float(re.search(r"-?\d+(\.\d+)?", s + " 0").group()))
    elif sort in (5, 6):
        options = sorted(options, key=str.lower)
    if sort in (2, 4, 6):
        options.reverse()
    return options


def resolve_variables(prom, variables, scenario, now):
    """Each variable's options and the selection of one scenario, in order,
    as Grafana refreshes chained variables. `default`: All for multi-value
    variables, else the first option; `chosen`: the first two options of
    multi-value ones, exercising the `(a|b)` form."""
    values, shown = {}, {}
    for v in variables:
        if v["type"] == "datasource":
            continue
        if v["type"] != "query":
            raise QueryError(f"variable {v['name']}: type {v['type']} not handled (teach .ci/grafana_queries.py)")
        q = interpolate(var_query(v), values)
        options = label_values(prom, q, now)
        if v.get("regex"):
            rx = re.compile(v["regex"].strip("/"))
            options = [m.group(1) if m.groups() else x for x in options if (m := rx.search(x))]
        options = sort_options(options, v.get("sort", 0))
        if not options:
            raise QueryError(f"variable {v['name']}: {q} has no values")
        v["_options"] = options
        if v.get("multi") and scenario == "chosen":
            selection = options[:2]
        elif v.get("includeAll") and scenario == "default":
            selection = "$__all"
        else:
            selection = options[0]
        values[v["name"]] = render(v, selection)
        shown[v["name"]] = "All" if selection == "$__all" else selection
    return values, shown


def has_data(result):
    """Any sample that is a number (histogram_quantile gives NaN without data)."""
    if result["resultType"] == "scalar":
        return True
    for s in result["result"]:
        samples = s.get("values") or ([s["value"]] if "value" in s else [])
        if any(not math.isnan(float(x[1])) for x in samples):
            return True
    return False


def run_all(prom, dash, now):
    """Every scenario's variables, then every panel target: (problems, queries passed, selections)."""
    problems, passed, shown = [], 0, {}
    for scenario in ("default", "chosen"):
        try:
            values, shown[scenario] = resolve_variables(prom, dash["templating"]["list"], scenario, now)
        except QueryError as e:
            problems.append(("empty", f"[{scenario}] {e}"))
            continue
        p, ok = check_panels(prom, dash, values, scenario, now)
        problems += p
        passed += ok
    return problems, passed, shown


def check_panels(prom, dash, values, scenario, now):
    """Run every target; return (problems as (kind, message), queries that passed)."""
    problems, ok = [], 0
    for p in all_panels(dash):
        targets = p.get("targets", [])
        if not targets:
            continue
        title = interpolate(p.get("title", "?"), values)
        label_sets = {}
        for t in targets:
            expr = interpolate(t["expr"], values)
            where = f"[{scenario}] panel {title!r} target {t['refId']}: {expr}"
            runs = [("instant", lambda e=expr: prom.instant(e, now))]
            if p["type"] == "timeseries" and t.get("range", True):
                runs.append(("range", lambda e=expr: prom.range(e, now)))
            for kind, run in runs:
                try:
                    result = run()
                except (QueryError, urllib.error.URLError) as e:
                    problems.append(("error", f"{where}\n    {kind} query failed: {e}"))
                    continue
                if not has_data(result):
                    problems.append(("empty", f"{where}\n    {kind} query returned no data"))
                    continue
                ok += 1
                series = [s["metric"] for s in result["result"]] if result["resultType"] == "vector" or kind == "range" else []
                for label in LEGEND_LABEL.findall(t.get("legendFormat", "") if kind == "instant" else ""):
                    if any(label not in s for s in series):
                        problems.append(("error", f"{where}\n    legend names {{{{{label}}}}}, which the result lacks"))
                if kind == "instant" and t.get("format") == "table":
                    label_sets[t["refId"]] = {tuple(sorted(s)) for s in series}
        # The merge transformation joins a table's queries on equal labels.
        if len({frozenset(x) for x in label_sets.values()}) > 1:
            problems.append(("error", f"[{scenario}] panel {title!r}: table queries carry different labels: {label_sets}"))
    return problems, ok


# ---------- processes ----------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout, log=None, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline and (proc is None or proc.poll() is None):
        try:
            if check():
                return
        except (OSError, QueryError, ValueError):
            pass
        time.sleep(0.5)
    tail = ""
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            tail = "\n" + "".join(f.readlines()[-30:])
    why = f"it exited with {proc.returncode}" if proc and proc.poll() is not None else f"timed out after {timeout}s"
    raise SystemExit(f"{why} waiting for {what}{tail}")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_text(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--okrd", required=True)
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--min-wait", type=float, default=20, help="seconds of scrapes before querying")
    ap.add_argument("--max-wait", type=float, default=60, help="seconds to wait for every query to have data")
    args = ap.parse_args()

    with open(args.dashboard) as f:
        dash = json.load(f)
    static_checks(dash)
    if failures:
        return 1
    print(f"dashboard shape: ok ({sum(1 for _ in all_panels(dash))} panels)", flush=True)

    # SIGTERM (CI's timeout) must still run the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    okrd = prom_proc = None
    with tempfile.TemporaryDirectory(prefix="grafana-queries-") as tmp:
        try:
            okrd_port, prom_port = free_port(), free_port()
            okrd_log = os.path.join(tmp, "okrd.log")
            with open(okrd_log, "w") as log:
                okrd = subprocess.Popen(
                    [args.okrd, "demo", "--listen", f"127.0.0.1:{okrd_port}"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            wait_for(
                "okrd demo's key result values",
                lambda: http_text(f"http://127.0.0.1:{okrd_port}/metrics").count("\nokr_key_result_value{") >= 5,
                60, okrd_log, okrd,
            )
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                json.dump({  # JSON is YAML
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [os.path.abspath(args.rules)],
                    "scrape_configs": [{"job_name": "okrd", "static_configs": [{"targets": [f"127.0.0.1:{okrd_port}"]}]}],
                }, f)
            prom_log = os.path.join(tmp, "prometheus.log")
            with open(prom_log, "w") as log:
                prom_proc = subprocess.Popen(
                    [args.prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                     f"--web.listen-address=127.0.0.1:{prom_port}"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            prom = Prom(f"http://127.0.0.1:{prom_port}")
            started = time.time()
            wait_for("Prometheus to scrape okrd",
                     lambda: prom.instant('up{job="okrd"} == 1', time.time())["result"], 60, prom_log, prom_proc)
            check_rules(prom, args.rules, prom_log, prom_proc)
            time.sleep(max(0, args.min_wait - (time.time() - started)))

            # Empty results are retried (a few more scrapes) until --max-wait;
            # query errors fail at once.
            while True:
                final = time.time() - started >= args.max_wait
                problems, passed, shown = run_all(prom, dash, time.time())
                if final or not problems or any(kind == "error" for kind, _ in problems):
                    break
                time.sleep(3)
            for scenario, values in shown.items():
                print(f"[{scenario}] variables: {json.dumps(values)}", flush=True)
            for _, msg in problems:
                fail(msg)
            check_rules_after(prom)
            print(f"grafana queries: {passed} passed, {len(failures)} failed "
                  f"(after {time.time() - started:.0f}s of scrapes)", flush=True)
            return 1 if failures else 0
        finally:
            stop(prom_proc)
            stop(okrd)


def check_rules(prom, rules_file, prom_log, prom_proc):
    """Prometheus loaded every alert of the rules file."""
    with open(rules_file) as f:
        want = set(re.findall(r"^\s*-?\s*alert:\s*(\w+)", f.read(), re.M))

    def rules():
        return [r for g in prom.get("/api/v1/rules", {})["groups"] for r in g["rules"]]

    # "unknown" until a rule's first evaluation.
    wait_for("Prometheus to evaluate the rules", lambda: rules() and all(r["health"] != "unknown" for r in rules()),
             30, prom_log, prom_proc)
    got = {r["name"] for r in rules()}
    if got != want:
        fail(f"Prometheus loaded alerts {sorted(got)}, the rules file has {sorted(want)}")
    print(f"rules: {len(got)} loaded and evaluated by Prometheus", flush=True)


def check_rules_after(prom):
    """After many evaluations on okrd's data (the first may come before the
    first scrape): every rule evaluates without error, and OkrdDown is not
    even pending while okrd is scraped."""
    for g in prom.get("/api/v1/rules", {})["groups"]:
        for r in g["rules"]:
            if r["health"] != "ok":
                fail(f"rule {r['name']}: {r['health']}: {r.get('lastError')}")
    active = [a["state"] for a in prom.get("/api/v1/alerts", {})["alerts"] if a["labels"]["alertname"] == "OkrdDown"]
    if active:
        fail(f"OkrdDown is {active[0]} while okrd is scraped")


if __name__ == "__main__":
    sys.exit(main())
