"""The Helm chart (helm/omnigate), rendered and linted offline with Helm's own Go SDK (helm-python-sdk) and
every manifest validated against the Kubernetes schemas (kubernetes-validate). No cluster, no helm binary:
``lookup`` returns nothing here, so renders behave as a first install.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from estate.launcher import BACKEND_ROLES, SECRET_NAMES, load_estate
from shared.settings import from_env, url_env_name

CHART = Path(__file__).resolve().parents[2] / "helm" / "omnigate"
KUBE_VERSION = "1.31"
RELEASE, NAMESPACE = "omnigate", "retail"
ESTATE = {d.name: d for d in load_estate()}
PRODUCTION = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())
SECRET_ENV = {"OMNIGATE_" + name.upper() for name in SECRET_NAMES}

EXTERNAL_REDIS = {
    "redis": {
        "bundled": {"enabled": False},
        "cache": {"enabled": False},
        "external": {"url": "rediss://redis.internal.example:6380/0"},
    }
}
REAL_BACKENDS = {
    "deployables": {f"sandbox-{role}": {"enabled": False} for role in BACKEND_ROLES},
    "backends": {
        "erp": {"url": "https://erp.example.com/"},
        "wms": {"url": "https://wms.example.com:8443/api"},
        "pos": {"url": "https://connect.squareup.com"},
    },
}


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest of a first install, as dicts (NOTES.txt left out)."""
    out = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith(".txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Manifests of one kind by component (the app.kubernetes.io/component label)."""
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(deployment)["env"]}


def plain_env(deployment: dict[str, Any]) -> dict[str, str]:
    """The environment as the process sees it, secrets replaced by a marker and $(VAR) expanded as kubelet does."""
    env: dict[str, str] = {}
    for e in container(deployment)["env"]:
        value = e["value"] if "value" in e else f"<{e['valueFrom']['secretKeyRef']['key']}>"
        env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), value)
    return env


def service_url(name: str) -> str:
    return f"http://{RELEASE}-{name}.{NAMESPACE}.svc.cluster.local:{ESTATE[name].port}"


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for key, value in b.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    result: dict[str, Any] = {}
    for layer in layers:
        result = merge(result, layer)
    return result


# --- values and lint ---------------------------------------------------------------------------------------


def test_values_name_exactly_the_deployables_of_estate_toml(chart: helm.Chart) -> None:
    deployables = chart.values["deployables"]
    assert sorted(deployables) == sorted(ESTATE)
    for name, d in ESTATE.items():
        v = deployables[name]
        assert (v["port"], v["layer"], v["workers"]) == (d.port, d.layer, d.workers), name
        assert sorted(v["calls"]) == sorted(d.calls), f"{name}: calls differ from estate.toml"


@pytest.mark.parametrize(
    "values",
    [{}, PRODUCTION, EXTERNAL_REDIS, REAL_BACKENDS],
    ids=["default", "production", "external-redis", "real-backends"],
)
def test_chart_lints_clean(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}.0", namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


# --- the default (sandbox profile) render ------------------------------------------------------------------


def test_default_render_has_a_deployment_and_service_per_enabled_deployable(chart: helm.Chart) -> None:
    docs = render(chart)
    enabled = {n for n, v in chart.values["deployables"].items() if v["enabled"]}
    assert enabled == set(ESTATE)  # sandbox profile: everything runs
    deployments = {c for c, d in of_kind(docs, "Deployment").items() if c != "redis-cache"}
    services = {c for c, d in of_kind(docs, "Service").items() if not c.startswith("redis")}
    assert deployments == services == enabled
    for name in enabled:
        svc = of_kind(docs, "Service")[name]
        assert svc["metadata"]["name"] == f"{RELEASE}-{name}"
        assert svc["spec"]["ports"] == [
            {"name": "http", "port": ESTATE[name].port, "targetPort": "http", "protocol": "TCP"}
        ]
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == name


def test_container_command_probes_security_and_metrics(chart: helm.Chart) -> None:
    docs = render(chart, {"deployables": {"system-erp": {"workers": 2}}})
    for name, deployment in of_kind(docs, "Deployment").items():
        if name == "redis-cache":
            continue
        d = ESTATE[name]
        workers = 2 if name == "system-erp" else d.workers
        c = container(deployment)
        assert c["image"] == "ghcr.io/omnigate/omnigate:" + chart.metadata["appVersion"]
        assert c["command"] == [
            "omnigate",
            "serve",
            name,
            "--host",
            "0.0.0.0",
            "--port",
            str(d.port),
            "--workers",
            str(workers),
        ]
        assert c["ports"] == [{"name": "http", "containerPort": d.port, "protocol": "TCP"}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["resources"]["requests"] and c["resources"]["limits"]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        pod = deployment["spec"]["template"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(d.port),
            "prometheus.io/path": "/metrics",
        }
        # Every path the process writes to is a mounted volume (the root filesystem is read-only).
        env = plain_env(deployment)
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert {env["OMNIGATE_DATA_DIR"], env["PROMETHEUS_MULTIPROC_DIR"], "/tmp"} <= set(mounts)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        data = volumes[mounts[env["OMNIGATE_DATA_DIR"]]]
        if d.layer == "backend":  # sandboxes keep SQLite files on a PVC by default
            assert data["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-{name}-data"
            assert deployment["spec"]["strategy"]["type"] == "Recreate"
            assert deployment["spec"]["replicas"] == 1
        else:
            assert "emptyDir" in data
        assert "emptyDir" in volumes[mounts[env["PROMETHEUS_MULTIPROC_DIR"]]]


def test_environment_is_what_shared_settings_expects(chart: helm.Chart) -> None:
    docs = render(chart)
    for name, deployment in of_kind(docs, "Deployment").items():
        if name == "redis-cache":
            continue
        env = plain_env(deployment)
        for other in ESTATE:
            assert env[url_env_name(other)] == service_url(other)
        for role, sandbox in BACKEND_ROLES.items():
            assert env[url_env_name(role)] == service_url(sandbox)
        # back-ends post webhooks to the public URL, the gateway's, which forwards them to the system API
        assert env["OMNIGATE_POS_WEBHOOK_URL"] == service_url("gateway") + "/webhooks/pos"
        assert env["OMNIGATE_WMS_WEBHOOK_URL"] == service_url("gateway") + "/webhooks/wms"
        assert env["REDIS_URL"] == f"redis://:<redis_password>@{RELEASE}-redis.{NAMESPACE}.svc.cluster.local:6379/0"
        assert env["CACHE_REDIS_URL"] == (
            f"redis://:<redis_password>@{RELEASE}-redis-cache.{NAMESPACE}.svc.cluster.local:6379/0"
        )
        # The chart's environment decodes into the deployable's own settings, as the launcher's does.
        kind = ESTATE[name].settings_class()
        settings = from_env(kind, env)
        assert settings.service == name
        assert settings.url_for("erp") == service_url("sandbox-erp")
        assert settings.url_for("system-pos") == service_url("system-pos")
        assert settings.cache_url != settings.redis_url
        for secret in set(SECRET_NAMES) & set(kind.__struct_fields__):  # each reads its credentials from the Secret
            assert getattr(settings, secret) == f"<{secret}>", (name, secret)
    readers = {d.name for d in ESTATE.values() if "erp_api_key" in d.settings_class().__struct_fields__}
    assert readers == {"sandbox-erp", "system-erp"}


# --- Kubernetes schemas ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},
        PRODUCTION,
        EXTERNAL_REDIS,
        REAL_BACKENDS,
        {"secrets": {"existingSecret": "mine"}, "networkPolicy": {"enabled": False}},
        {
            "deployables": {f"sandbox-{r}": {"persistence": {"enabled": False}} for r in BACKEND_ROLES},
            "redis": {"bundled": {"auth": False, "maxmemory": "2gb"}},
        },
    ],
    ids=["default", "production", "external-redis", "real-backends", "existing-secret", "ephemeral-sandboxes"],
)
def test_every_manifest_validates_against_the_kubernetes_schema(chart: helm.Chart, values: dict[str, Any]) -> None:
    docs = render(chart, values)
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


# --- HPA, PDB ----------------------------------------------------------------------------------------------


def test_hpa_and_pdb_for_scalable_deployables_never_for_sandboxes(chart: helm.Chart) -> None:
    docs = render(chart)
    hpas, pdbs = of_kind(docs, "HorizontalPodAutoscaler"), of_kind(docs, "PodDisruptionBudget")
    scalable = {n for n, v in chart.values["deployables"].items() if v["hpa"]["enabled"]}
    assert set(hpas) == scalable and not any(n.startswith("sandbox-") for n in hpas)
    assert not any(n.startswith("sandbox-") for n in pdbs)
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{RELEASE}-{name}",
        }
        assert "replicas" not in of_kind(docs, "Deployment")[name]["spec"]  # the HPA owns the count
    for pdb in pdbs.values():
        assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1


@pytest.mark.parametrize(
    "override", [{"replicas": 2}, {"hpa": {"enabled": True, "maxReplicas": 3}}, {"pdb": {"enabled": True}}]
)
def test_sandboxes_are_single_replica_by_nature(chart: helm.Chart, override: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match="SQLite"):
        render(chart, {"deployables": {"sandbox-pos": override}})


# --- NetworkPolicies ---------------------------------------------------------------------------------------


def _components(peers: list[dict[str, Any]]) -> set[str]:
    return {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in peers
        if "podSelector" in p and "namespaceSelector" not in p
    }


def test_network_policies_allow_exactly_the_callers_of_estate_toml(chart: helm.Chart) -> None:
    docs = render(chart)
    policies = of_kind(docs, "NetworkPolicy")
    prometheus = chart.values["networkPolicy"]["prometheus"]
    for name, d in ESTATE.items():
        spec = policies[name]["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == name
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        callers = {other for other, o in ESTATE.items() if name in o.calls}
        pod_rules = [r for r in spec["ingress"] if _components(r["from"])]
        assert {c for r in pod_rules for c in _components(r["from"])} == callers
        for rule in spec["ingress"]:
            assert rule["ports"] == [{"port": d.port, "protocol": "TCP"}]
            assert _components(rule["from"]) or rule["from"] == prometheus
        assert [r["from"] for r in spec["ingress"] if not _components(r["from"])] == [prometheus]
        egress = {c: r["ports"] for r in spec["egress"] for c in _components(r.get("to", []))}
        assert set(egress) == set(d.calls) | {"redis", "redis-cache"}
        for callee in d.calls:
            assert egress[callee] == [{"port": ESTATE[callee].port, "protocol": "TCP"}]
        dns = [r for r in spec["egress"] if {"port": 53, "protocol": "UDP"} in r["ports"]]
        assert len(dns) == 1
    for component in ("redis", "redis-cache"):
        spec = policies[component]["spec"]
        (rule,) = spec["ingress"]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE, "omnigate.io/role": "deployable"}}}
        ]
        assert spec["egress"] == []
    # every deployable's pods carry the label Redis admits
    for name, deployment in of_kind(docs, "Deployment").items():
        if name in ESTATE:
            assert deployment["spec"]["template"]["metadata"]["labels"]["omnigate.io/role"] == "deployable"


def test_network_policy_reaches_real_backends_when_sandboxes_are_off(chart: helm.Chart) -> None:
    policies = of_kind(
        render(
            chart, merged(REAL_BACKENDS, {"backends": {"erp": {"egressTo": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}}})
        ),
        "NetworkPolicy",
    )
    assert not any(n.startswith("sandbox-") for n in policies)
    erp = [r for r in policies["system-erp"]["spec"]["egress"] if r["ports"] == [{"port": 443, "protocol": "TCP"}]]
    assert [r["to"] for r in erp] == [[{"ipBlock": {"cidr": "203.0.113.0/24"}}]]
    wms = [r for r in policies["system-wms"]["spec"]["egress"] if r["ports"] == [{"port": 8443, "protocol": "TCP"}]]
    assert len(wms) == 1 and "to" not in wms[0]
    # the disabled sandbox no longer gets in (its webhooks now come from the real POS: see extraIngress)
    callers = {c for r in policies["system-pos"]["spec"]["ingress"] for c in _components(r["from"])}
    assert callers == {n for n, d in ESTATE.items() if "system-pos" in d.calls and not n.startswith("sandbox-")}


# --- back-ends, Redis, secrets -----------------------------------------------------------------------------


def test_disabled_sandboxes_and_backend_urls_point_env_at_the_external_systems(chart: helm.Chart) -> None:
    docs = render(chart, REAL_BACKENDS)
    deployments = of_kind(docs, "Deployment")
    assert not any(n.startswith("sandbox-") for n in deployments)
    assert not of_kind(docs, "PersistentVolumeClaim")
    for name in ("system-erp", "system-wms", "system-pos"):
        env = plain_env(deployments[name])
        assert env["OMNIGATE_URL_ERP"] == "https://erp.example.com"
        assert env["OMNIGATE_URL_WMS"] == "https://wms.example.com:8443/api"
        assert env["OMNIGATE_URL_POS"] == "https://connect.squareup.com"
        assert not any(k.startswith("OMNIGATE_URL_SANDBOX_") for k in env)
        assert env["OMNIGATE_POS_WEBHOOK_URL"] == service_url("gateway") + "/webhooks/pos"
    # a real POS signs the URL it was registered with: the public one, not the in-cluster Service
    public = merged(REAL_BACKENDS, {"backends": {"pos": {"webhookUrl": "https://hooks.example.com/webhooks/pos"}}})
    env = plain_env(of_kind(render(chart, public), "Deployment")["system-pos"])
    assert env["OMNIGATE_POS_WEBHOOK_URL"] == "https://hooks.example.com/webhooks/pos"


def test_a_system_api_without_a_backend_is_refused(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="backends.erp.url"):
        render(chart, {"deployables": {"sandbox-erp": {"enabled": False}}})


def test_bundled_redis_is_a_durable_state_store_and_a_separate_lru_cache(chart: helm.Chart) -> None:
    docs = render(chart)
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    args = container(sts)["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "always"
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert pairs["--requirepass"] == "$(REDIS_PASSWORD)"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert {"name": "data", "mountPath": "/data"} in container(sts)["volumeMounts"]
    cache = of_kind(docs, "Deployment")["redis-cache"]
    cache_args = dict(zip(container(cache)["args"][::2], container(cache)["args"][1::2], strict=True))
    assert cache_args["--maxmemory-policy"] == "allkeys-lru" and cache_args["--appendonly"] == "no"
    assert cache_args["--save"] == "" and cache_args["--maxmemory"]
    assert not any("persistentVolumeClaim" in v for v in cache["spec"]["template"]["spec"]["volumes"])


def test_external_redis_renders_no_statefulset(chart: helm.Chart) -> None:
    docs = render(chart, EXTERNAL_REDIS)
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    assert not any(c.startswith("redis") for c in of_kind(docs, "Deployment"))
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert "redis_password" not in secret["data"]
    for deployment in of_kind(docs, "Deployment").values():
        env = env_of(deployment)
        assert env["REDIS_URL"]["value"] == "rediss://redis.internal.example:6380/0"
        assert "CACHE_REDIS_URL" not in env and "REDIS_PASSWORD" not in env
    policies = of_kind(docs, "NetworkPolicy")
    assert "redis" not in policies
    assert [r for r in policies["system-erp"]["spec"]["egress"] if r["ports"] == [{"port": 6380, "protocol": "TCP"}]]
    # the URL may also come from a Secret (when it carries a password), with a separate cache URL
    docs = render(
        chart,
        {
            "redis": {
                "bundled": {"enabled": False},
                "cache": {"enabled": False},
                "external": {"existingSecret": "redis-conn", "urlKey": "state", "cacheUrlKey": "cache"},
            }
        },
    )
    env = env_of(of_kind(docs, "Deployment")["system-erp"])
    assert env["REDIS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "redis-conn", "key": "state"}}
    assert env["CACHE_REDIS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "redis-conn", "key": "cache"}}


@pytest.mark.parametrize(
    "redis",
    [{"bundled": {"enabled": False}}, {"external": {"url": "redis://elsewhere:6379/0"}}],
    ids=["neither", "both"],
)
def test_redis_choice_must_be_unambiguous(chart: helm.Chart, redis: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match="redis"):
        render(chart, {"redis": redis})


def test_existing_secret_is_honoured(chart: helm.Chart) -> None:
    docs = render(chart, {"secrets": {"existingSecret": "shop-credentials"}})
    assert not [d for d in docs if d["kind"] == "Secret"]
    refs = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            for e in container(doc).get("env", []):
                if "valueFrom" in e:
                    refs.append(e["valueFrom"]["secretKeyRef"]["name"])
    assert refs and set(refs) == {"shop-credentials"}
    keys = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in container(of_kind(docs, "Deployment")["system-erp"])["env"]
        if "valueFrom" in e
    }
    assert keys == set(SECRET_NAMES) | {"redis_password"}


def test_generated_secret_is_random_and_never_inlined(chart: helm.Chart) -> None:
    first, second = render(chart), render(chart)
    (secret,) = [d for d in first if d["kind"] == "Secret"]
    (again,) = [d for d in second if d["kind"] == "Secret"]
    assert set(secret["data"]) == set(SECRET_NAMES) | {"redis_password"}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for key, value in secret["data"].items():
        assert value != again["data"][key], f"{key} is not random"
        assert len(base64.b64decode(value)) >= 32
    elsewhere = json.dumps([d for d in first if d["kind"] != "Secret"])
    for value in secret["data"].values():
        assert value not in elsewhere and base64.b64decode(value).decode() not in elsewhere
    for doc in first:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            for e in container(doc).get("env", []):
                if e["name"] in SECRET_ENV or e["name"] in ("REDIS_PASSWORD", "REDISCLI_AUTH"):
                    assert "value" not in e and "secretKeyRef" in e["valueFrom"], e


def test_no_secret_value_can_come_from_values(chart: helm.Chart) -> None:
    """values.yaml holds no credential, the schema refuses one, and extraEnv cannot smuggle one in."""
    text = (CHART / "values.yaml").read_text()
    for name in SECRET_NAMES:
        assert not re.search(rf"^\s*{name}\s*:", text, re.MULTILINE)
    with pytest.raises(helm.HelmError, match="secrets"):
        render(chart, {"secrets": {"erp_api_key": "hunter2"}})
    with pytest.raises(helm.HelmError, match="credentials"):
        render(chart, {"extraEnv": {"OMNIGATE_ERP_API_KEY": "hunter2"}})
    with pytest.raises(helm.HelmError, match="credentials"):
        render(chart, {"deployables": {"system-pos": {"extraEnv": {"OMNIGATE_POS_ACCESS_TOKEN": "hunter2"}}}})
    # plain settings do pass through
    env = plain_env(
        of_kind(render(chart, {"extraEnv": {"OMNIGATE_KEY_PREFIX": "shop:", "OMNIGATE_SEED_SKUS": 500}}), "Deployment")[
            "system-erp"
        ]
    )
    assert env["OMNIGATE_KEY_PREFIX"] == "shop:" and env["OMNIGATE_SEED_SKUS"] == "500"


@pytest.mark.parametrize(
    "values",
    [
        {"deployables": {"system-erp": {"port": "8301"}}},
        {"deployables": {"system-erp": {"replica": 3}}},
        {"redis": {"bundled": {"appendfsync": "sometimes"}}},
        {"backends": {"erp": {"url": "erp.example.com"}}},
        {"unknownTopLevel": True},
    ],
    ids=["port-type", "unknown-field", "appendfsync", "url-without-scheme", "unknown-top-level"],
)
def test_values_schema_rejects_bad_values(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
