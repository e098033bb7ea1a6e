"""Validates Kubernetes manifests: custom resources against KubeRay's v1 CRD schemas (strictly:
unknown fields are errors, as `kubectl apply --validate=strict` makes them), their pod templates and
every built-in kind against Kubernetes' own schemas (kubernetes-validate).

  python validate_manifests.py CRD_FOLDER MANIFEST.yaml...
Prints one line per document and `VALID n` or `INVALID n`; exits 1 when any is invalid.
"""
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES = "1.32.0"


def strict(node):
    """The CRD schema as JSON Schema: int-or-string made explicit, unknown properties refused."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_schemas(folder):
    schemas = {}
    for name in ("rayclusters", "rayjobs", "rayservices"):
        with open(f"{folder}/ray.io_{name}.yaml") as handle:
            crd = yaml.safe_load(handle)
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schema = strict(version["schema"]["openAPIV3Schema"])
        # apiVersion/kind/metadata are the API server's to check.
        schema["properties"]["metadata"] = {"type": "object"}
        schemas[crd["spec"]["names"]["kind"]] = schema
    return schemas


def pod_templates(node, path="spec"):
    """Every pod template inside a custom resource (`template` holding a pod `spec`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "template" and isinstance(value, dict) and "containers" in value.get("spec", {}):
                yield f"{path}.{key}", value
            else:
                yield from pod_templates(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from pod_templates(item, f"{path}[{index}]")


def problems(document, schemas):
    kind = document.get("kind")
    if kind in schemas:
        found = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(schemas[kind]).iter_errors(document)]
        for path, template in pod_templates(document.get("spec", {})):
            wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
            try:
                kubernetes_validate.validate(wrapped, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as error:
                found.append(f"{path}: {error.message}")
        return found
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
        return []
    except kubernetes_validate.ValidationError as error:
        return [error.message]


def main():
    schemas = crd_schemas(sys.argv[1])
    count, bad = 0, 0
    for path in sys.argv[2:]:
        with open(path) as handle:
            for document in yaml.safe_load_all(handle):
                if not document:
                    continue
                count += 1
                found = problems(document, schemas)
                name = f"{path}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
                print(f"{'ok  ' if not found else 'FAIL'} {name}" + "".join(f"\n     {p}" for p in found))
                bad += bool(found)
    print(f"{'VALID' if bad == 0 else 'INVALID'} {count - bad}/{count}")
    sys.exit(1 if bad else 0)


main()
