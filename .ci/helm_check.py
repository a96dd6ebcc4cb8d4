#!/usr/bin/env python3
"""Offline checks of the Helm chart helm/slamon (called by .ci/helm-check).

1. helm lint --strict (Helm v4 as a library: helm-python-sdk), default values and ci/*-values.yaml;
2. render with the default values and with every ci/*-values.yaml;
3. every rendered object in its own file, validated with `kubernetes-validate --strict`; the
   Prometheus Operator kinds (no schema in kubernetes-validate) are checked for apiVersion, kind,
   metadata and the fields the chart sets;
4. the rendered slamon.toml of each ConfigMap goes through `slamon check`;
5. the chart's dashboard equals config/grafana/slamon.json when that file exists.
No cluster, no network.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "slamon"
SLAMON = Path(os.environ.get("SLAMON_BIN", ROOT / "target" / "debug" / "slamon"))
RELEASE, NAMESPACE = "slamon", "monitoring"
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}

failures: list[str] = []
summary: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print(f"FAIL {msg}")


def lint(values_name: str, values: dict | None) -> None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    bad = 0
    for m in report.get("messages", []):
        sev = m.get("severity", 0)
        print(f"  lint {SEVERITY.get(sev, sev)} {m.get('path', '')}: {m.get('error', '')}")
        if sev >= 2:
            bad += 1
    for e in report.get("errors", []) or []:
        print(f"  lint ERROR {e}")
        bad += 1
    if bad:
        fail(f"helm lint --strict ({values_name}): {bad} problem(s)")
    else:
        summary.append(f"lint --strict ({values_name}): ok")


def check_crd(doc: dict, where: str) -> None:
    md = doc.get("metadata") or {}
    if not md.get("name") or not md.get("namespace"):
        fail(f"{where}: metadata.name and metadata.namespace are required")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        fail(f"{where}: spec must be a mapping")
        return
    if doc["kind"] == "ServiceMonitor":
        eps = spec.get("endpoints")
        if not isinstance(eps, list) or not eps:
            fail(f"{where}: spec.endpoints must be a non-empty list")
        for ep in eps or []:
            if ep.get("port") != "http-metrics":
                fail(f"{where}: endpoint port must be http-metrics")
            for key in ("relabelings", "metricRelabelings"):
                for r in ep.get(key, []) or []:
                    if not isinstance(r, dict) or r.get("action", "replace") not in {
                        "replace", "keep", "drop", "keepequal", "dropequal", "hashmod",
                        "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
                        "Replace", "Keep", "Drop", "HashMod", "LabelMap", "LabelDrop", "LabelKeep",
                    }:
                        fail(f"{where}: bad {key} entry {r!r}")
        if not (spec.get("selector") or {}).get("matchLabels"):
            fail(f"{where}: spec.selector.matchLabels is required")
    else:  # PrometheusRule
        groups = spec.get("groups")
        if not isinstance(groups, list) or not groups:
            fail(f"{where}: spec.groups must be a non-empty list")
        for g in groups or []:
            if not g.get("name") or not isinstance(g.get("rules"), list):
                fail(f"{where}: every group needs a name and a rules list")
            for r in g.get("rules") or []:
                if not r.get("expr") or not (r.get("alert") or r.get("record")):
                    fail(f"{where}: every rule needs expr and alert or record")


def slamon_check(toml: str, where: str, tmp: Path) -> None:
    """`slamon check` on a rendered config. ${env:NAME} references get a placeholder value, and
    ${file:PATH} references point to a placeholder file (the Secrets do not exist here)."""
    env = dict(os.environ)
    for name in sorted(set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", toml))):
        env.setdefault(name, "https://placeholder.example.com" if "TARGET" in name or "URL" in name else "placeholder")
    placeholder = tmp / "placeholder-secret"
    placeholder.write_text("placeholder\n")
    files = sorted(set(re.findall(r"\$\{file:([^}]*)\}", toml)))
    checked = re.sub(r"\$\{file:[^}]*\}", "${file:%s}" % placeholder, toml)
    path = tmp / f"{where}.slamon.toml"
    path.write_text(checked)
    out = subprocess.run([str(SLAMON), "check", "--config", str(path)], env=env, capture_output=True, text=True)
    print("  " + (out.stdout + out.stderr).strip().replace("\n", "\n  "))
    if out.returncode != 0 or "OK" not in out.stdout:
        fail(f"slamon check of the rendered config ({where}) exited {out.returncode}")
        return
    note = f" ({len(files)} file reference(s) pointed at a placeholder)" if files else ""
    summary.append(f"slamon check ({where}): OK{note}")
    # What the pod needs, whatever the user wrote: listen on all interfaces, state on the volume.
    if not re.search(r'(?m)^\s*listen\s*=\s*"0\.0\.0\.0:', toml):
        print(f"  note: {where}: [server] listen is not 0.0.0.0 (the container's --listen overrides it)")
    if not re.search(r'(?m)^\s*state_dir\s*=\s*"/var/lib/slamon', toml):
        print(f"  note: {where}: state_dir is not under /var/lib/slamon (relative paths land there: workingDir)")


def render_and_validate(values_name: str, values: dict | None, tmp: Path) -> None:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    outdir = tmp / values_name
    outdir.mkdir()
    core_files, kinds = [], []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")) or not text.strip():
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as e:
            fail(f"{template} ({values_name}): not valid YAML: {e}")
            continue
        for i, doc in enumerate(docs):
            where = f"{values_name}:{template}#{i}"
            if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
                fail(f"{where}: an object without apiVersion or kind")
                continue
            kinds.append(doc["kind"])
            fname = outdir / f"{Path(template).stem}-{i}.yaml"
            fname.write_text(yaml.safe_dump(doc, sort_keys=False))
            if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
                print(f"  note: {doc['kind']} ({doc['apiVersion']}) is a CRD kubernetes-validate has no "
                      f"schema for: YAML, apiVersion, kind and the chart's fields checked, schema skipped")
                check_crd(doc, where)
            else:
                core_files.append(fname)
            if doc["kind"] == "ConfigMap" and "slamon.toml" in (doc.get("data") or {}):
                slamon_check(doc["data"]["slamon.toml"], values_name, tmp)
            if doc["kind"] == "ConfigMap" and "slamon.json" in (doc.get("data") or {}):
                try:
                    dash = json.loads(doc["data"]["slamon.json"])
                    if not isinstance(dash, dict) or "panels" not in dash:
                        fail(f"{where}: the dashboard JSON has no panels")
                except json.JSONDecodeError as e:
                    fail(f"{where}: the dashboard is not valid JSON: {e}")
    if core_files:
        out = subprocess.run(
            [sys.executable, "-m", "kubernetes_validate", "--strict", *map(str, core_files)],
            capture_output=True, text=True,
        )
        text = (out.stdout + out.stderr).strip()
        for line in text.splitlines():
            print("  " + line.replace(str(outdir) + "/", ""))
        if out.returncode != 0 or re.search(r"^(ERROR|WARN|FATAL)", text, re.M):
            fail(f"kubernetes-validate --strict ({values_name})")
        else:
            summary.append(f"render ({values_name}): {len(kinds)} objects ({', '.join(kinds)}); "
                           f"kubernetes-validate --strict ok on {len(core_files)}")


def check_dashboard_copy() -> None:
    source = ROOT / "config" / "grafana" / "slamon.json"
    copy = CHART / "dashboards" / "slamon.json"
    json.loads(copy.read_text())
    if not source.exists():
        summary.append("dashboard: config/grafana/slamon.json absent, chart copy is valid JSON")
        return
    if source.read_bytes() != copy.read_bytes():
        fail("helm/slamon/dashboards/slamon.json differs from config/grafana/slamon.json: "
             "cp config/grafana/slamon.json helm/slamon/dashboards/slamon.json")
    else:
        summary.append("dashboard: chart copy equals config/grafana/slamon.json")


def main() -> int:
    if not SLAMON.exists():
        print(f"{SLAMON} is missing: run `cargo build` (or cargo test) first")
        return 1
    value_sets: list[tuple[str, dict | None]] = [("default", None)]
    for f in sorted((CHART / "ci").glob("*-values.yaml")):
        value_sets.append((f.stem, helm.values_from_yaml(f.read_text())))
    with tempfile.TemporaryDirectory(prefix="helm-check-") as t:
        tmp = Path(t)
        for name, values in value_sets:
            print(f"== {name}")
            lint(name, values)
            render_and_validate(name, values, tmp)
    check_dashboard_copy()
    print("== summary")
    for line in summary:
        print(f"ok   {line}")
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
