#!/usr/bin/env python3
"""Did the check-ins land? For bench/api.sh, while the daemon runs.

  verify.py DB mark                      -> the highest check-in id so far
  verify.py DB after MARK BASE TOKEN     -> key=value lines: check-ins since MARK,
      on how many KRs, audit rows for check-ins, one KR's history through the API
      against the database, and how many KRs the API shows with a value other
      than their latest check-in in the database ("stale"), with examples.

The database is read through Python's sqlite3 (WAL: reading while the daemon
writes is fine); nothing is written.
"""
import json
import sqlite3
import sys
import urllib.request

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
one = lambda sql, *args: db.execute(sql, args).fetchone()[0]

if sys.argv[2] == "mark":
    print(one("SELECT COALESCE(MAX(id), 0) FROM check_ins"))
    sys.exit()

mark, base, token = int(sys.argv[3]), sys.argv[4], sys.argv[5]


def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


out = {
    "landed": one("SELECT COUNT(*) FROM check_ins WHERE id > ?", mark),
    "distinct": one("SELECT COUNT(DISTINCT key_result_id) FROM check_ins WHERE id > ?", mark),
    "audits": one("SELECT COUNT(*) FROM audit_log WHERE action = 'check_in.create'"),
    "all": one("SELECT COUNT(*) FROM check_ins"),
}

probe = "kr-0001"
page = get(f"/api/v1/key-results/{probe}/check-ins?limit=500")
out["probe"] = probe
out["probe_db"] = one("SELECT COUNT(*) FROM check_ins WHERE key_result_id = ?", probe)
out["probe_api"] = f"{len(page['items'])}{'+' if page.get('next_cursor') else ''}"

# Every KR's value through the API against its latest check-in (newest
# observed_at, then the highest id, as the history lists them).
latest = {}
for kr, value, observed_at, cid in db.execute(
        "SELECT key_result_id, value, observed_at, id FROM check_ins ORDER BY key_result_id, observed_at, id"):
    latest[kr] = (value, observed_at, cid)
top = one("SELECT COALESCE(MAX(id), 0) FROM check_ins")
api, cursor = {}, None
while True:
    page = get("/api/v1/key-results?limit=500" + (f"&cursor={cursor}" if cursor else ""))
    for item in page["items"]:
        api[item["id"]] = item["value"]
    cursor = page.get("next_cursor")
    if not cursor:
        break
stale = sorted((latest[k][2], k) for k in api if k in latest and api[k] != latest[k][0])
out["krs_checked"] = len(api)
out["stale"] = len(stale)
# How recent the stale KRs' latest check-ins are: all among the N newest.
out["stale_newest"] = top - stale[0][0] + 1 if stale else 0
out["stale_examples"] = ",".join(f"{k}:{api[k]}!={latest[k][0]}" for _, k in stale[:3])
for k, v in out.items():
    print(f"{k}={v}")
