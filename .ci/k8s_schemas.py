"""Validates rendered Kubernetes manifests offline, every object or fail.

Built-in kinds go to kubernetes-validate's bundled schemas (strict: an
unknown field is an error, as `kubectl apply` says since 1.27), for each
Kubernetes version given. A ServiceMonitor goes to the openAPIV3Schema of
the vendored CRD, made strict the same way. Any other kind is an error: an
object nobody checked must not pass.

Usage: k8s_schemas.py --crd CRD.yaml --k8s 1.29 --k8s 1.37 FILE...
"""

import argparse
import sys

import jsonschema
from kubernetes_validate import utils as kubernetes_validate
import yaml


def strict(schema):
    """The CRD's schema, rejecting fields it does not declare (the API
    server would prune them silently, hiding a typo)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validators(path):
    """(apiVersion, kind) -> a validator, for each served version of the CRD."""
    out = {}
    for crd in yaml.safe_load_all(open(path)):
        if not crd:
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            schema = strict(version["schema"]["openAPIV3Schema"])
            # OpenAPI 3.0 schemas are draft 4 with extensions (x-kubernetes-*,
            # nullable) that a draft-4 validator ignores.
            jsonschema.Draft4Validator.check_schema(schema)
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            out[key] = jsonschema.Draft4Validator(schema)
    return out


# What a custom resource's metadata may hold here (the CRD says only "object").
CR_METADATA = {"name", "namespace", "labels", "annotations"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crd", action="append", default=[])
    ap.add_argument("--k8s", action="append", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    crds = {}
    for path in args.crd:
        crds.update(crd_validators(path))

    errors = []
    checked = 0
    for path in args.files:
        for obj in yaml.safe_load_all(open(path)):
            if not obj:
                continue
            name = f"{path}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            key = (obj.get("apiVersion"), obj.get("kind"))
            if key in crds:
                for e in crds[key].iter_errors(obj):
                    where = ".".join(str(p) for p in e.absolute_path)
                    errors.append(f"{name}: {where}: {e.message} (CRD schema)")
                extra = set(obj.get("metadata", {})) - CR_METADATA
                if extra:
                    errors.append(f"{name}: metadata: unexpected {sorted(extra)}")
                print(f"ok   {name} against its CRD")
                checked += 1
                continue
            for version in args.k8s:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path)
                    errors.append(f"{name}: {where}: {e.message} (Kubernetes {version})")
                except kubernetes_validate.SchemaNotFoundError as e:
                    errors.append(f"{name}: no schema, so unchecked: {e.message}")
                    break
            else:
                print(f"ok   {name} against Kubernetes {', '.join(args.k8s)}")
            checked += 1

    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    if checked == 0:
        print("FAIL no objects to validate", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
