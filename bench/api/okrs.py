#!/usr/bin/env python3
"""OKR file for bench/api.sh: one period holding today (the current quarter,
UTC), a handful of teams, N/5 objectives and N key results without a source
(manual check-ins only, so nothing is fetched), all `increase` 0 -> 100.

Limits the daemon checks at startup are kept: 5 KRs per objective, each from
a different team; every owner holds exactly 5 KRs in the period (owner of
slot j of objective o is (o + 41*j) mod O, a bijection per slot).

Usage: okrs.py PATH [KRS] [TEAMS]; prints the period id on stdout.
"""
import datetime
import string
import sys

path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
n_teams = int(sys.argv[3]) if len(sys.argv) > 3 else 8
per_objective = 5
if n_teams < per_objective:
    sys.exit("need at least 5 teams: the 5 KRs of an objective come from different teams")

today = datetime.datetime.now(datetime.timezone.utc).date()
q = (today.month - 1) // 3
start = datetime.date(today.year, 3 * q + 1, 1)
end = (datetime.date(today.year + 1, 1, 1) if q == 3 else datetime.date(today.year, 3 * q + 4, 1)) - datetime.timedelta(days=1)
period = f"{today.year}-Q{q + 1}"


def letters(i):
    """0 -> "a", 25 -> "z", 26 -> "ba": objective titles without digits (digits there are a warning)."""
    s = ""
    while True:
        s = string.ascii_lowercase[i % 26] + s
        i //= 26
        if i == 0:
            return s


objectives = (n + per_objective - 1) // per_objective
teams = [f"team-{t}" for t in range(n_teams)]
out = [f'[[periods]]\nid = "{period}"\nstart = "{start}"\nend = "{end}"\n']
for t in range(n_teams):
    out.append(f'[[teams]]\nid = "{teams[t]}"\nname = "Team {t}"\n')
for o in range(objectives):
    out.append(f'[[objectives]]\nid = "o-{o:04d}"\ntitle = "Grow area {letters(o)}"\n'
               f'period = "{period}"\nteam = "{teams[o % n_teams]}"\n')
for k in range(n):
    o, j = divmod(k, per_objective)
    owner = (o + 41 * j) % objectives
    out.append(f'[[key_results]]\nid = "kr-{k:04d}"\nobjective = "o-{o:04d}"\nteam = "{teams[(o + j) % n_teams]}"\n'
               f'owner = "owner{owner:04d}@example.com"\ntitle = "Key result {k}"\n'
               f'kind = "increase"\nstart = 0\ntarget = 100\n')
with open(path, "w") as f:
    f.write("\n".join(out))
print(period)
