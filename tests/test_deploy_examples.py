"""The deployment examples, checked by their ecosystems' validators and against sqsobs' rules.

- ``examples/ecs/listener-service.yaml`` (CloudFormation): ``cfn-lint``, with no error or warning
  (``IGNORED_CFN_RULES`` would list the ones ignored on purpose, each with its reason; none is).
- ``examples/kubernetes/listener.yaml``: the Kubernetes 1.37 schemas of ``kubernetes-validate``,
  strict (an unknown field fails).
- ``examples/kubernetes/keda.yaml``: the openAPIV3Schema of KEDA's CRDs (``tests/schemas/keda``,
  unknown fields refused), each trigger's metadata keys against its scaler's, the Prometheus
  query's metrics against the catalog and the recording rules.

Then what docs/running.md says the numbers must be: stop timeouts and grace periods above
``SHUTDOWN_TIMEOUT``, probes on ``/health`` and ``/ready``, and autoscaling metrics that sqsobs
really exports under the names and dimensions the policies ask for.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sqsobs.cli._promql import RECORDING_RULES
from sqsobs.telemetry.catalog import CATALOG, QUEUE_STATES, by_name

ROOT = Path(__file__).resolve().parent.parent
ECS_TEMPLATE = ROOT / "examples" / "ecs" / "listener-service.yaml"
K8S = ROOT / "examples" / "kubernetes"
KEDA_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "keda"
KUBERNETES_VERSION = "1.37.0"
#: The most ECS allows for a container's stopTimeout.
ECS_MAX_STOP_TIMEOUT = 120
#: The exit margin docs/running.md asks for above SHUTDOWN_TIMEOUT.
EXIT_MARGIN_SECONDS = 5
#: cfn-lint rules ignored on purpose: rule id -> why. None today.
IGNORED_CFN_RULES: dict[str, str] = {}


def require_module(name: str) -> None:
    """Skip locally (fail under CI) when a dev-extra package is missing."""
    try:
        __import__(name)
    except ImportError:
        reason = f"{name} is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


# --- CloudFormation ------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form functions (!Ref, !Sub ...) as plain mappings."""


def _function(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _function)


def template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(ECS_TEMPLATE.read_text(), Loader=_CfnLoader)
    return data


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    require_module("cfnlint")
    ignore = ["--ignore-checks", *IGNORED_CFN_RULES] if IGNORED_CFN_RULES else []
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable"]
    return subprocess.run(
        [*command, *ignore, "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cfn_lint_finds_no_error_or_warning() -> None:
    result = cfn_lint(ECS_TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_cfn_lint_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ECS_TEMPLATE.read_text().replace("LaunchType: FARGATE", "LaunchType: FARGAT"))
    result = cfn_lint(broken)
    assert result.returncode != 0
    assert "E3030" in result.stdout  # not one of EC2, FARGATE, EXTERNAL


def _containers() -> dict[str, dict[str, Any]]:
    task = template()["Resources"]["TaskDefinition"]["Properties"]
    return {c["Name"]: c for c in task["ContainerDefinitions"]}


def _environment(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container.get("Environment", [])}


def test_the_ecs_listener_drains_before_sigkill_and_checks_its_health() -> None:
    listener = _containers()["listener"]
    env = _environment(listener)
    shutdown = float(env["SHUTDOWN_TIMEOUT"])
    assert shutdown + EXIT_MARGIN_SECONDS <= listener["StopTimeout"] <= ECS_MAX_STOP_TIMEOUT
    assert int(env["VISIBILITY_SECS"]) >= 20
    check = " ".join(listener["HealthCheck"]["Command"])
    assert "127.0.0.1:8080/health" in check
    # Opt-ins of this issue, as the environment spells them.
    assert env["ECS_TASK_PROTECTION"] == env["BACKLOG_METRICS"] == "1"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4317")
    # Started after (and so stopped before) the collector its last flush goes to.
    assert listener["DependsOn"] == [{"ContainerName": "otel-collector", "Condition": "START"}]


def test_the_task_role_may_protect_the_task_and_read_the_backlog() -> None:
    policies = template()["Resources"]["TaskRole"]["Properties"]["Policies"]
    actions = {
        action
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }
    assert {"ecs:UpdateTaskProtection", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"} <= actions
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= actions


def _collector_config() -> dict[str, Any]:
    value = template()["Resources"]["CollectorConfig"]["Properties"]["Value"]["Sub"]
    config: dict[str, Any] = yaml.safe_load(value.replace("${AWS::StackName}", "stack"))
    return config


def _declared(metric: str) -> list[list[str]]:
    """The dimension sets the EMF exporter publishes ``metric`` with."""
    declarations = _collector_config()["exporters"]["awsemf"]["metric_declarations"]
    return [
        dims
        for declaration in declarations
        if any(re.search(s, metric) for s in declaration["metric_name_selectors"])
        for dims in declaration["dimensions"]
    ]


def test_the_collector_publishes_catalog_metrics_only() -> None:
    declarations = _collector_config()["exporters"]["awsemf"]["metric_declarations"]
    names = [spec.name for spec in CATALOG]
    for declaration in declarations:
        for selector in declaration["metric_name_selectors"]:
            matched = [name for name in names if re.search(selector, name)]
            assert matched, f"{selector} selects no sqsobs metric"
            for name in matched:
                for dims in declaration["dimensions"]:
                    assert set(dims) <= set(by_name(name).attributes), (name, dims)
    pipelines = _collector_config()["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["awsemf"]


def _sqsobs_metric_stats() -> list[dict[str, Any]]:
    """Every CloudWatch metric in the sqsobs namespace the scaling policies read."""
    found = []
    for resource in template()["Resources"].values():
        if resource["Type"] != "AWS::ApplicationAutoScaling::ScalingPolicy":
            continue
        spec = resource["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        custom = spec["CustomizedMetricSpecification"]
        metrics = [
            m["MetricStat"]["Metric"] for m in custom.get("Metrics", []) if "MetricStat" in m
        ]
        if "MetricName" in custom:
            metrics.append(custom)
        found += [m for m in metrics if m["Namespace"] == "sqsobs"]
    return found


def test_the_scaling_policies_read_metrics_the_collector_publishes() -> None:
    metrics = _sqsobs_metric_stats()
    assert {m["MetricName"] for m in metrics} == {
        "sqsobs.queue.messages",
        "sqsobs.listener.workers.utilization",
    }
    for metric in metrics:
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert sorted(dimensions) in [sorted(d) for d in _declared(metric["MetricName"])], metric
        if "sqsobs.queue.state" in dimensions:
            assert dimensions["sqsobs.queue.state"] in QUEUE_STATES
    backlog = template()["Resources"]["BacklogPerTaskPolicy"]["Properties"]
    queries = backlog["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    returned = [q for q in queries["Metrics"] if q["ReturnData"]]
    assert [q["Expression"] for q in returned] == ["backlog / tasks"]


# --- Kubernetes ----------------------------------------------------------------------------------


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kind(path: Path, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(path) if doc["kind"] == name]
    return found


def test_the_kubernetes_manifests_pass_the_kubernetes_schemas() -> None:
    require_module("kubernetes_validate")
    import kubernetes_validate

    docs = documents(K8S / "listener.yaml")
    assert {doc["kind"] for doc in docs} == {"ServiceAccount", "ConfigMap", "Deployment"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_schemas_can_fail() -> None:
    require_module("kubernetes_validate")
    import kubernetes_validate

    deployment = copy.deepcopy(kind(K8S / "listener.yaml", "Deployment"))
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriod"] = spec.pop("terminationGracePeriodSeconds")  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = kind(K8S / "listener.yaml", "Deployment")["spec"]["template"]["spec"]
    return spec


def test_the_pod_drains_within_its_grace_period_and_probes_health_and_readiness() -> None:
    pod = _pod()
    containers = {c["name"]: c for c in pod["containers"]}
    listener = containers["listener"]
    env = {item["name"]: item["value"] for item in listener["env"]}
    shutdown = float(env["SHUTDOWN_TIMEOUT"])
    grace = pod["terminationGracePeriodSeconds"]
    assert "lifecycle" not in listener  # the listener needs no preStop: SIGTERM starts its drain
    assert grace >= shutdown + EXIT_MARGIN_SECONDS
    # The collector outlives the drain (its preStop), then exports and exits within the grace.
    pre_stop = containers["otel-collector"]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= shutdown + EXIT_MARGIN_SECONDS
    assert grace >= pre_stop + EXIT_MARGIN_SECONDS
    ports = {p["name"]: p["containerPort"] for p in listener["ports"]}
    readiness, liveness = listener["readinessProbe"], listener["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/ready" and liveness["httpGet"]["path"] == "/health"
    assert ports[readiness["httpGet"]["port"]] == ports[liveness["httpGet"]["port"]] == 8080
    # /health answers 503 while draining: the liveness probe must not restart a drain.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > shutdown
    assert env["BACKLOG_METRICS"] == "1"


# --- KEDA ----------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The schema with unknown properties refused where it lists the known ones (as
    ``kubectl --validate=strict`` refuses them)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def crd_validator(name: str) -> Any:
    from jsonschema import Draft7Validator

    crd = yaml.safe_load((KEDA_SCHEMAS / f"keda.sh_{name}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def scaler_keys(source: str) -> set[str]:
    """The trigger metadata keys a KEDA scaler reads (its ``keda:"name=..."`` tags)."""
    text = (KEDA_SCHEMAS / f"{source}_metadata.go.txt").read_text()
    return set(re.findall(r'keda:"name=(\w+)', text))


SCALERS = {"aws-sqs-queue": "aws_sqs_queue_scaler", "prometheus": "prometheus_scaler"}


def test_the_keda_objects_pass_the_crd_schemas() -> None:
    require_module("jsonschema")
    scaled = kind(K8S / "keda.yaml", "ScaledObject")
    auth = kind(K8S / "keda.yaml", "TriggerAuthentication")
    for name, doc in (("scaledobjects", scaled), ("triggerauthentications", auth)):
        errors = [e.message for e in crd_validator(name).iter_errors(doc)]
        assert errors == [], (name, errors)
    assert scaled["apiVersion"] == auth["apiVersion"] == "keda.sh/v1alpha1"
    assert (
        scaled["spec"]["scaleTargetRef"]["name"]
        == kind(K8S / "listener.yaml", "Deployment")["metadata"]["name"]
    )


def test_the_crd_schema_can_fail() -> None:
    require_module("jsonschema")
    scaled = copy.deepcopy(kind(K8S / "keda.yaml", "ScaledObject"))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")  # an HPA habit
    assert list(crd_validator("scaledobjects").iter_errors(scaled))
    del scaled["spec"]["triggers"][0]["type"]
    assert len(list(crd_validator("scaledobjects").iter_errors(scaled))) >= 2


def test_each_trigger_uses_its_scalers_metadata_keys_only() -> None:
    assert "queueURL" in scaler_keys("aws_sqs_queue_scaler")
    assert {"serverAddress", "query", "threshold"} <= scaler_keys("prometheus_scaler")
    scaled = kind(K8S / "keda.yaml", "ScaledObject")
    auth = kind(K8S / "keda.yaml", "TriggerAuthentication")
    triggers = scaled["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["aws-sqs-queue", "prometheus"]
    for trigger in triggers:
        known = scaler_keys(SCALERS[trigger["type"]])
        assert set(trigger["metadata"]) <= known, (
            trigger["type"],
            set(trigger["metadata"]) - known,
        )
    sqs = triggers[0]
    assert sqs["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert int(sqs["metadata"]["queueLength"]) > 0


def test_the_prometheus_trigger_queries_what_sqsobs_records() -> None:
    (trigger,) = [
        t for t in kind(K8S / "keda.yaml", "ScaledObject")["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]  # fmt: skip
    query = trigger["metadata"]["query"]
    known = {spec.prometheus_name for spec in CATALOG} | set(RECORDING_RULES)
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query))
    assert names and names <= known, names - known
    # A ratio held near its threshold: the HPA's Value target (replicas x value / threshold).
    assert trigger["metricType"] == "Value"
    assert 0 < float(trigger["metadata"]["threshold"]) <= 1
    assert 'messaging_destination_name="orders"' in query
