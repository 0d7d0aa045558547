"""The docker-compose stack, proven without a Docker engine.

The compose file validates against the Compose JSON schema (tests/test_compose_spec.json, from
Debian's docker-compose 1.29.2), every mounted file exists, Prometheus' config passes
``promtool check config``, the collector's pipelines use only defined components, and ports and
service names agree across the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from sqsobs.cli._dashboards import DASHBOARDS
from tests.helpers import require_binary

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "dashboards"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load(ROOT / "docker-compose.yml")
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    data: dict[str, Any] = load(CONFIG / "collector" / "config.yaml")
    return data


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        found[container] = (ROOT / host).resolve()
    return found


def published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def host_port(address: str) -> tuple[str, int]:
    parsed = urlparse(address if "//" in address else f"//{address}")
    assert parsed.hostname and parsed.port, address
    return parsed.hostname, parsed.port


def test_compose_file_matches_the_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests" / "test_compose_spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    broken = {**compose, "services": {**compose["services"], "bad": {"image": 1, "portz": []}}}
    assert list(validator.iter_errors(broken)), "the schema must reject a broken service"


def test_docker_compose_config_when_installed() -> None:
    # Debian's docker-compose, when present, parses the file the way `docker compose` would.
    binary = shutil.which("docker-compose")
    if binary is None:
        missing = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("CI"):  # .ci/run installs it: a missing one is a broken CI
            pytest.fail(missing)
        pytest.skip(missing)
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_stack_has_its_services(services: dict[str, Any]) -> None:
    assert set(services) == {
        "elasticmq", "otel-collector", "jaeger", "prometheus", "grafana", "producer", "consumer",
    }  # fmt: skip
    assert "opentelemetry-collector-contrib" in services["otel-collector"]["image"]
    for name in ("producer", "consumer"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        script = services[name]["command"][1]
        assert (ROOT / script).is_file(), f"{name} runs {script}, which does not exist"
    for name, service in services.items():
        if "build" not in service:
            assert re.search(r":[\w.-]+$", service["image"]), f"{name}: pin the image version"


def test_every_mounted_file_exists(services: dict[str, Any]) -> None:
    count = 0
    for name, service in services.items():
        for host in mounts(service).values():
            assert host.is_file(), f"{name} mounts {host}, which does not exist"
            assert host.is_relative_to(CONFIG), f"{name}: config files live under dashboards/"
            count += 1
    assert count >= 8


def test_promtool_check_config() -> None:
    result = subprocess.run(
        [require_binary("promtool"), "check", "config", "prometheus.yml"],
        cwd=CONFIG / "prometheus",
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts.yml" in result.stdout  # the rules are loaded and checked too


def test_prometheus_mounts_its_rules_where_the_config_expects_them(
    services: dict[str, Any],
) -> None:
    config = load(CONFIG / "prometheus" / "prometheus.yml")
    files = mounts(services["prometheus"])
    config_path = next(c for c in files if c.endswith("prometheus.yml"))
    assert f"--config.file={config_path}" in services["prometheus"]["command"]
    for rule_file in config["rule_files"]:
        assert str(Path(config_path).parent / rule_file) in files


def test_prometheus_scrapes_existing_services_on_their_ports(
    services: dict[str, Any], collector: dict[str, Any]
) -> None:
    config = load(CONFIG / "prometheus" / "prometheus.yml")
    exporter_port = host_port(collector["exporters"]["prometheus"]["endpoint"])[1]
    reader = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    listening = {
        "otel-collector": {exporter_port, reader["prometheus"]["port"]},
        "prometheus": {9090},
    }
    for app in ("producer", "consumer"):
        env = services[app]["environment"]
        assert env["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"  # reachable from Prometheus
        assert "prometheus" in env["OTEL_METRICS_EXPORTER"].split(",")
        listening[app] = {int(env["OTEL_EXPORTER_PROMETHEUS_PORT"])}
    jobs = {}
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = host_port(target)
            service = "prometheus" if host == "localhost" else host
            assert service in services, f"job {job['job_name']} scrapes unknown {host}"
            assert port in listening[service], f"{service} does not listen on {port}"
            jobs[job["job_name"]] = service
    # The app jobs are named after the services: the dashboards' "service" variable is the job.
    assert jobs["producer"] == "producer" and jobs["consumer"] == "consumer"
    honor = [j for j in config["scrape_configs"] if j["static_configs"][0]["targets"][0].endswith(
        f":{exporter_port}")]  # fmt: skip
    assert honor and honor[0]["honor_labels"] is True


def test_collector_pipelines_use_defined_components(collector: dict[str, Any]) -> None:
    pipelines = collector["service"]["pipelines"]
    assert set(pipelines) >= {"traces", "metrics"}
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector[kind], f"{name} uses undefined {kind} {component}"
    for extension in collector["service"].get("extensions", []):
        assert extension in collector["extensions"]
    used = {c for p in pipelines.values() for c in p["exporters"]}
    assert used == set(collector["exporters"]), "an exporter is defined but unused"
    assert "otlp" in pipelines["traces"]["receivers"]
    assert "prometheus" in pipelines["metrics"]["exporters"]


def test_traces_flow_app_to_collector_to_jaeger(
    services: dict[str, Any], collector: dict[str, Any]
) -> None:
    grpc = host_port(collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])[1]
    for app in ("producer", "consumer"):
        host, port = host_port(services[app]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (host, port) == ("otel-collector", grpc)
        assert services[app]["environment"]["OTEL_SERVICE_NAME"] == app
    trace_exporters = collector["service"]["pipelines"]["traces"]["exporters"]
    host, port = host_port(collector["exporters"][trace_exporters[0]]["endpoint"])
    assert host in services and port == 4317
    # Jaeger v2 (a collector build) receives OTLP on 4317 in its default configuration; v1's
    # COLLECTOR_OTLP_ENABLED switch is gone with v1 (end of life).
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", services["jaeger"]["image"])
    assert "environment" not in services["jaeger"]
    assert trace_exporters[0].split("/")[0] == "otlp_grpc"  # "otlp" is a deprecated alias


def test_apps_use_the_local_sqs_and_its_queue(services: dict[str, Any]) -> None:
    conf = (CONFIG / "elasticmq" / "elasticmq.conf").read_text()
    bind_port = int(re.search(r"rest-sqs \{[^}]*bind-port = (\d+)", conf).group(1))  # type: ignore[union-attr]
    assert bind_port in published(services["elasticmq"])
    assert "/opt/elasticmq.conf" in mounts(services["elasticmq"])
    for app in ("producer", "consumer"):
        env = services[app]["environment"]
        assert host_port(env["AWS_ENDPOINT_URL"]) == ("elasticmq", bind_port)
        assert re.search(rf"^\s+{re.escape(env['SQSOBS_QUEUE'])} \{{", conf, re.M), env
        assert set(services[app]["depends_on"]) >= {"elasticmq", "otel-collector"}


def test_grafana_provisions_datasources_and_dashboards(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    files = mounts(grafana)
    sources = load(CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    by_type = {s["type"]: s for s in sources["datasources"]}
    assert set(by_type) == {"prometheus", "jaeger"}
    for source in by_type.values():
        host, port = host_port(source["url"])
        assert host in services and port in published(services[host])
    assert by_type["prometheus"]["isDefault"] is True
    # The dashboards' "Traces" link opens Explore on this data source.
    assert by_type["jaeger"]["uid"] == "traces"
    provider = load(CONFIG / "grafana" / "provisioning" / "dashboards" / "dashboards.yml")
    folder = provider["providers"][0]["options"]["path"]
    mounted = {c for c in files if c.startswith(folder + "/")}
    assert {f"{folder}/{d.filename}" for d in DASHBOARDS} == mounted
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{folder}/sqsobs-overview.json"
    for container in files:
        if container.startswith("/etc/grafana/provisioning/"):
            assert files[container].name == Path(container).name


#: The oldest major of each image the stack may pin (Jaeger 1 and Prometheus 2 are past).
CURRENT_MAJORS = {
    "softwaremill/elasticmq-native": 1,
    "otel/opentelemetry-collector-contrib": 0,
    "jaegertracing/jaeger": 2,
    "prom/prometheus": 3,
    "grafana/grafana": 12,
}


def test_images_are_current_releases_and_the_docs_name_them(services: dict[str, Any]) -> None:
    docs = (ROOT / "docs" / "dashboards.md").read_text()
    pinned = {}
    for name, service in services.items():
        if "build" in service:
            continue
        image, tag = service["image"].rsplit(":", 1)
        assert image in CURRENT_MAJORS, f"{name}: {image}"
        major = int(tag.lstrip("v").split(".")[0])
        assert major >= CURRENT_MAJORS[image], f"{name}: {service['image']} is past"
        assert f"`{service['image']}`" in docs, (
            f"docs/dashboards.md does not name {service['image']}"
        )
        pinned[image] = tag
    assert set(pinned) == set(CURRENT_MAJORS)
    collector_minor = int(pinned["otel/opentelemetry-collector-contrib"].split(".")[1])
    assert collector_minor >= 150  # uses otlp_grpc, the exporter's current name


def test_exemplars_flow_from_the_collector_to_grafana(
    services: dict[str, Any], collector: dict[str, Any]
) -> None:
    """OTLP histograms' exemplars: collector (OpenMetrics) -> Prometheus -> Grafana -> Jaeger."""
    assert collector["exporters"]["prometheus"]["enable_open_metrics"] is True
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    sources = load(CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    by_type = {s["type"]: s for s in sources["datasources"]}
    destinations = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": by_type["jaeger"]["uid"]} in destinations
