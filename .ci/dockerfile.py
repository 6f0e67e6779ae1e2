#!/usr/bin/env python3
"""Reads the Dockerfile for .ci/dockerfile (Python standard library only).

  dockerfile.py lint  DOCKERFILE   the rules below; exit 1 listing every problem
  dockerfile.py facts DOCKERFILE   what the script runs, as shell assignments
  dockerfile.py build DOCKERFILE   the build stage as a bash script, run in
                                   an empty folder (its WORKDIR) with $ROOT set
  dockerfile.py stubs DOCKERFILE   the same up to its first `cargo build`

The rules are hadolint's that matter here (it runs too) plus this image's
contract: the Kubernetes manifests, deploy/README.md and Compose assume the
user, paths, port and health check checked below.
"""

import fnmatch
import json
import os
import re
import shlex
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The image's contract (deploy/README.md, the Kubernetes manifests).
UID = "10001"
HOME = "/var/lib/okrd"
CONFIG_DIR = "/etc/okrd"
BINARY = "/usr/local/bin/okrd"
CMD = ["serve", "--config", f"{CONFIG_DIR}/okrd.toml"]
OCI_LABELS = ["title", "description", "source", "licenses", "version", "revision", "created"]


class Instr:
    def __init__(self, line, keyword, rest):
        self.line, self.keyword, self.rest = line, keyword.upper(), rest.strip()

    def flags_and_args(self):
        """`--flag=value` options, then the rest (JSON exec form or words)."""
        flags, rest = {}, self.rest
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags[name] = value
            rest = rest.lstrip()
        return flags, rest

    def exec_form(self):
        _, rest = self.flags_and_args()
        if self.keyword == "HEALTHCHECK":
            if not rest.upper().startswith("CMD"):
                return None
            rest = rest[3:].strip()
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def parse(path):
    """Instructions with their first line; continuations joined, comments dropped."""
    out, buf, start = [], "", None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if start is None:
                start = n
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            buf += line
            keyword, _, rest = buf.strip().partition(" ")
            out.append(Instr(start, keyword, rest))
            buf, start = "", None
    return out


def stages(instrs):
    """[(name, base, [instructions])] per FROM."""
    result = []
    for i in instrs:
        if i.keyword == "FROM":
            words = i.flags_and_args()[1].split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append((name, words[0], []))
        elif result:
            result[-1][2].append(i)
    return result


def key_values(rest):
    """ENV/LABEL/ARG `k=v k2="v 2"` pairs (and the old `ENV k v` form)."""
    words = shlex.split(rest)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.partition("=")[::2] for w in words)


def cargo_manifest():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)


def dockerignore_allows(patterns, path):
    """Whether the build context keeps `path` (the last matching rule wins;
    a rule matching a parent folder covers what is under it)."""
    keep = True
    parts = path.strip("/").split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        p = pattern[1:] if negate else pattern
        p = p.strip("/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:i]), p):
                keep = negate
                break
    return keep


def read_dockerignore():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def copy_sources(instr):
    """Context paths a COPY reads (none for COPY --from)."""
    flags, rest = instr.flags_and_args()
    if "from" in flags:
        return []
    words = json.loads(rest) if rest.startswith("[") else rest.split()
    return words[:-1]


def embedded_inputs():
    """Top-level folders build.rs names, and files include_str!/include_bytes! read."""
    needed = set()
    top = {e for e in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, e)) and not e.startswith(".")}
    with open(os.path.join(ROOT, "build.rs")) as f:
        needed |= {s for s in re.findall(r'"([^"/]+)"', f.read()) if s in top}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if not name.endswith(".rs"):
                continue
            with open(os.path.join(dirpath, name)) as f:
                for rel in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', f.read()):
                    target = os.path.normpath(os.path.join(dirpath, rel))
                    needed.add(os.path.relpath(target, ROOT))
    return needed


def lint(path):
    problems = []

    def bad(instr, msg):
        problems.append(f"{os.path.relpath(path, ROOT)}:{instr.line if instr else 1}: {msg}")

    instrs = parse(path)
    st = stages(instrs)
    names = {s[0] for s in st if s[0]}
    if len(st) < 2:
        bad(None, "expected a multi-stage build (a build stage and a runtime stage)")
        return problems
    froms = [i for i in instrs if i.keyword == "FROM"]
    for instr, (_, base, _) in zip(froms, st):
        if base in names or base == "scratch":
            continue
        if "$" in base:
            bad(instr, f"FROM {base}: a base image from a build argument cannot be checked; name it")
        elif "@sha256:" not in base and ":" not in base.rsplit("/", 1)[-1]:
            bad(instr, f"FROM {base}: pin the base image with a tag or digest")
        elif base.rsplit("/", 1)[-1].split("@")[0].endswith(":latest"):
            bad(instr, f"FROM {base}: `latest` moves; pin a version tag")
    manifest = cargo_manifest()
    rust_version = manifest["package"].get("rust-version")
    build_base = st[0][1]
    if rust_version and not build_base.startswith(f"rust:{rust_version}"):
        bad(froms[0], f"the build stage's image {build_base} is not rust:{rust_version} (Cargo.toml's rust-version)")

    ignore = read_dockerignore()
    if ignore is None:
        bad(None, "no .dockerignore: target/ and .git would be sent as build context")
    else:
        for p in ("target", ".git"):
            if dockerignore_allows(ignore, p):
                problems.append(f".dockerignore: does not keep {p}/ out of the build context")

    copied = set()
    for instr in instrs:
        kw = instr.keyword
        flags, rest = instr.flags_and_args()
        if kw == "MAINTAINER":
            bad(instr, "MAINTAINER is deprecated; use a LABEL")
        if kw == "ADD":
            if re.search(r"\b(https?|git)://|git@", rest):
                bad(instr, "ADD of a URL: fetch in a RUN with a checksum, or COPY a vendored file")
            else:
                bad(instr, "ADD: use COPY (ADD also unpacks archives and fetches URLs)")
        if kw == "COPY":
            if "<<" in rest:
                bad(instr, "COPY heredoc: keep files in the repository, where CI can read them")
            for src in copy_sources(instr):
                copied.add(os.path.normpath(src))
                if not os.path.exists(os.path.join(ROOT, src)):
                    bad(instr, f"COPY {src}: no such file in the repository")
                elif ignore is not None and not dockerignore_allows(ignore, os.path.normpath(src)):
                    bad(instr, f"COPY {src}: .dockerignore keeps it out of the build context")
        if kw == "RUN":
            if re.search(r"\bsudo\b", rest):
                bad(instr, "sudo in RUN: the build runs as root already (or switch USER)")
            if re.search(r"(curl|wget)[^|;&]*\|\s*(ba|z)?sh\b", rest):
                bad(instr, "piping a download into a shell")
            if re.search(r"\bcargo\s+(build|install)\b", rest) and "--locked" not in rest:
                bad(instr, "cargo without --locked: the image would not build what Cargo.lock pins")
            if re.search(r"\bapt-get\s+(\S+\s+)*install\b", rest):
                if "--no-install-recommends" not in rest:
                    bad(instr, "apt-get install without --no-install-recommends")
                if not re.search(r"apt-get\s+(\S+\s+)*install\s+(\S+\s+)*(-y|--yes|--assume-yes)\b", rest) and "-y" not in rest.split():
                    bad(instr, "apt-get install without -y (a build has no stdin)")
                if "rm -rf /var/lib/apt/lists" not in rest:
                    bad(instr, "apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN")
            if re.search(r"\bapt-get\s+update\b", rest) and not re.search(r"\bapt-get\s+(\S+\s+)*install\b", rest):
                bad(instr, "apt-get update in a RUN of its own: a cached layer serves stale lists later")
            if re.search(r"\bapt-get\s+(dist-)?upgrade\b", rest):
                bad(instr, "apt-get upgrade: take a newer base image instead")
        if kw == "WORKDIR" and not rest.startswith("/") and not rest.startswith("$"):
            bad(instr, f"WORKDIR {rest}: use an absolute path")
        if kw in ("CMD", "ENTRYPOINT") and instr.exec_form() is None:
            bad(instr, f"{kw} in shell form: use the exec form so that SIGTERM reaches okrd")

    # The build stage: the release build, and everything it embeds.
    build = st[0][2]
    builds = [i for i in build if i.keyword == "RUN" and re.search(r"\bcargo\s+build\b", i.rest)]
    if not builds:
        bad(froms[0], "the build stage has no `cargo build`")
    else:
        final = builds[-1]
        for flag in ("--release", "--locked"):
            if flag not in final.rest.split():
                bad(final, f"the build stage's last cargo build lacks {flag}")
        before = final.rest[: re.search(r"\bcargo\s+build\b", final.rest).start()]
        if len(builds) > 1 and "touch" not in before:
            bad(final, "the build after the stub build does not touch the sources first: "
                "COPY keeps their older times and cargo would keep the stub binary")
    for needed in sorted(embedded_inputs()):
        if not any(needed == c or needed.startswith(c + "/") for c in copied):
            bad(None, f"{needed} is embedded in the binary (build.rs or include_str!) but no COPY brings it")

    # The runtime stage: the contract.
    runtime = st[-1][2]
    by = lambda kw: [i for i in runtime if i.keyword == kw]
    users = by("USER")
    if not users:
        bad(froms[-1], "no USER in the final stage: okrd would run as root")
    else:
        user = users[-1].rest
        if user.split(":")[0] in ("root", "0"):
            bad(users[-1], "the final USER is root")
        elif user != f"{UID}:{UID}":
            bad(users[-1], f"USER {user}: the Kubernetes manifests assume {UID}:{UID} (numeric, for runAsNonRoot)")
    workdirs = by("WORKDIR")
    if not workdirs or workdirs[-1].rest != HOME:
        bad(froms[-1], f"the final WORKDIR is not {HOME} (the user's home, where SQLite lives)")
    runs = " ".join(i.rest for i in by("RUN"))
    if not re.search(rf"useradd\b.*--uid {UID}\b.*--home-dir {re.escape(HOME)}\b", runs):
        bad(froms[-1], f"no `useradd ... --uid {UID} ... --home-dir {HOME}` in the final stage")
    if not re.search(rf"install -d -o {UID} -g {UID}\b[^&]*{re.escape(HOME)}", runs):
        bad(froms[-1], f"{HOME} is not created owned by {UID}")
    for instr in by("COPY"):
        flags, rest = instr.flags_and_args()
        dest = (json.loads(rest) if rest.startswith("[") else rest.split())[-1]
        owned = flags.get("chown", "").split(":")[0] in (UID, "okrd")
        if dest.startswith(HOME) and not owned:
            bad(instr, f"COPY into {HOME} without --chown={UID}:{UID}: okrd could not write it")
        if not dest.startswith(HOME) and owned:
            bad(instr, f"COPY to {dest} owned by {UID}: okrd could rewrite its own binary or config")
    env = {}
    for instr in by("ENV"):
        env.update(key_values(instr.rest))
    listen = env.get("OKRD_SERVER__LISTEN", "")
    port = listen.rsplit(":", 1)[-1]
    if not listen.startswith("0.0.0.0:"):
        bad(froms[-1], "ENV OKRD_SERVER__LISTEN is not 0.0.0.0:PORT: okrd's default 127.0.0.1 is unreachable from outside the container")
    if env.get("OKRD_CONFIG") != f"{CONFIG_DIR}/okrd.toml":
        bad(froms[-1], f"ENV OKRD_CONFIG is not {CONFIG_DIR}/okrd.toml: `docker exec ... okrd token create` would use another database")
    exposes = [p.split("/")[0] for i in by("EXPOSE") for p in i.rest.split()]
    if exposes != [port]:
        bad(froms[-1], f"EXPOSE {' '.join(exposes) or '(none)'} is not the listen port {port}")
    checks = by("HEALTHCHECK")
    if not checks or checks[-1].rest.upper().startswith("NONE"):
        bad(froms[-1], "no HEALTHCHECK in the final stage")
    else:
        argv = checks[-1].exec_form()
        if argv is None:
            bad(checks[-1], "HEALTHCHECK CMD in shell form: the image's /bin/sh (dash) has no /dev/tcp; use [\"bash\", \"-c\", ...]")
        elif "/healthz" not in " ".join(argv):
            bad(checks[-1], "the HEALTHCHECK does not request /healthz")
        flags, _ = checks[-1].flags_and_args()
        if "timeout" not in flags:
            bad(checks[-1], "HEALTHCHECK without --timeout")
    entry = by("ENTRYPOINT")
    if not entry or entry[-1].exec_form() != [BINARY]:
        bad(froms[-1], f'ENTRYPOINT is not ["{BINARY}"]')
    cmd = by("CMD")
    if not cmd or cmd[-1].exec_form() != CMD:
        bad(froms[-1], f"CMD is not {json.dumps(CMD)}")
    copies_binary = [i for i in by("COPY") if "from" in i.flags_and_args()[0] and i.rest.split()[-1] == BINARY]
    if not copies_binary:
        bad(froms[-1], f"no COPY --from=<build stage> ... {BINARY}")

    args = {}
    for instr in by("ARG"):
        args.update(key_values(instr.rest))
    labels = {}
    for instr in by("LABEL"):
        labels.update(key_values(instr.rest))
    for name in OCI_LABELS:
        if f"org.opencontainers.image.{name}" not in labels:
            bad(froms[-1], f"no LABEL org.opencontainers.image.{name}")
    version = manifest["package"]["version"]
    if labels.get("org.opencontainers.image.version") == "${VERSION}" and args.get("VERSION") != version:
        bad(froms[-1], f"ARG VERSION={args.get('VERSION')} but Cargo.toml says {version}")
    elif labels.get("org.opencontainers.image.version") not in ("${VERSION}", version, None):
        bad(froms[-1], "the version label is neither ${VERSION} nor Cargo.toml's version")
    licenses = manifest["package"].get("license")
    if labels.get("org.opencontainers.image.licenses") not in (licenses, None):
        bad(froms[-1], f"the licenses label is not Cargo.toml's {licenses}")
    return problems


def facts(path):
    """Shell assignments of what .ci/dockerfile runs."""
    st = stages(parse(path))
    build, runtime = st[0][2], st[-1][2]
    env = {}
    for i in runtime:
        if i.keyword == "ENV":
            env.update(key_values(i.rest))
    last = lambda kw: next((i for i in reversed(runtime) if i.keyword == kw), None)
    cargo = [i.rest for i in build if i.keyword == "RUN" and re.search(r"\bcargo\s+build\b", i.rest)]
    # The final cargo build command alone, out of its `&&` chain.
    final_cargo = next(
        (c.strip() for c in cargo[-1].split("&&") if re.search(r"\bcargo\s+build\b", c)), ""
    ) if cargo else ""
    copies = []
    for i in runtime:
        if i.keyword == "COPY" and "from" not in i.flags_and_args()[0]:
            words = i.flags_and_args()[1].split()
            copies.append(f"{words[0]}={words[-1]}")
    hc = last("HEALTHCHECK")
    values = {
        "df_cargo_build": final_cargo,
        "df_user": (last("USER").rest if last("USER") else ""),
        "df_workdir": (last("WORKDIR").rest if last("WORKDIR") else ""),
        "df_listen": env.get("OKRD_SERVER__LISTEN", ""),
        "df_config_env": env.get("OKRD_CONFIG", ""),
        "df_expose": (last("EXPOSE").rest if last("EXPOSE") else ""),
        "df_entrypoint": " ".join(last("ENTRYPOINT").exec_form() or []) if last("ENTRYPOINT") else "",
        "df_cmd": " ".join(last("CMD").exec_form() or []) if last("CMD") else "",
        "df_copies": " ".join(copies),
        "df_version": cargo_manifest()["package"]["version"],
    }
    lines = [f"{k}={shlex.quote(v)}" for k, v in values.items()]
    argv = hc.exec_form() if hc else None
    lines.append("df_healthcheck=(" + " ".join(shlex.quote(a) for a in (argv or [])) + ")")
    return "\n".join(lines)


def script(path, stubs_only):
    """The build stage as bash: COPY as cp -p (times kept, as COPY keeps
    them), RUN as is; with `stubs_only`, up to its first cargo build."""
    build = stages(parse(path))[0][2]
    out = ["set -euo pipefail"]
    for i in build:
        if stubs_only and i.keyword == "RUN" and re.search(r"\bcargo\s+build\b", i.rest):
            break
        if i.keyword == "COPY":
            words = i.flags_and_args()[1].split()
            srcs, dest = words[:-1], words[-1]
            for s in srcs:
                if os.path.isdir(os.path.join(ROOT, s)):
                    # COPY dir dest merges the folder's contents into dest.
                    out.append(f'mkdir -p {shlex.quote(dest)} && cp -rpT "$ROOT"/{shlex.quote(s)} {shlex.quote(dest)}')
                elif dest.endswith("/") or len(srcs) > 1:
                    out.append(f'mkdir -p {shlex.quote(dest)} && cp -p "$ROOT"/{shlex.quote(s)} {shlex.quote(dest)}')
                else:
                    out.append(f'cp -p "$ROOT"/{shlex.quote(s)} {shlex.quote(dest)}')
        elif i.keyword == "RUN":
            out.append(i.rest)
        elif i.keyword not in ("WORKDIR", "ENV", "ARG", "LABEL"):
            out.append(f"echo 'unsupported in the stub replay: {i.keyword}' >&2; exit 1")
    return "\n".join(out)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("lint", "facts", "build", "stubs"):
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "lint":
        problems = lint(path)
        for p in problems:
            print(f"FAIL: {p}")
        sys.exit(1 if problems else 0)
    print(facts(path) if mode == "facts" else script(path, mode == "stubs"))


if __name__ == "__main__":
    main()
