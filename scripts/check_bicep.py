#!/usr/bin/env python3
"""Offline checks of the Bicep in bicep/, run by scripts/check-bicep (which installs pycep and
checkov first). Three commands:

  parse                 every .bicep file parses with pycep (the parser checkov scans with)
  checkov-report FILE   checkov's JSON report: no failed check, no parse error, and every
                        skipped check carries a reason
  code [--bin BIN]      the Bicep declares what the code uses: the queues and connections of
                        the function bindings that `visiobook package` writes, the queues and
                        Cosmos containers named in the Rust sources, the fields the code
                        orders by (which need composite indexes), one consumer per queue
                        (a packaged function's trigger or a KEDA ScaledJob), the app settings the app
                        reads, and the properties the issue fixes (keys off, serverless, /pk...)

Each prints what failed and ends with one line, 'ok: ...' or 'FAILED: ...'.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from xml.etree import ElementTree
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BICEP = REPO / "bicep"
MAIN = BICEP / "main.bicep"

# Named in the issue; the Rust sources are scanned as well, so a queue or container added to the
# code later is required too.
KNOWN_QUEUES = ["ingestion", "analysis", "generation", "assembly", "notifications"]
KNOWN_CONTAINERS = [
    "alerts", "analytics-daily", "analytics-events", "analytics-hourly", "analytics-state",
    "assembly-options", "audit", "billing-accounts", "billing-history", "books", "config",
    "config-versions", "files", "log-days", "login-throttle", "logs", "notification-deliveries",
    "notification-keys", "notifications", "overrides", "owned-books", "payments",
    "project-versions", "projects", "sessions", "stripe-events", "stripe-subscriptions",
    "subscriptions", "usage", "user-emails", "users", "webhooks",
]
# Names the port conformance tests make up (shared/ports/src/conformance*); never deployed.
TEST_ONLY_NAMES = {"conformance", "conformance-other"}

# App settings the Function App must carry; a value, when given, must be that literal.
REQUIRED_SETTINGS: dict[str, str | None] = {
    "FUNCTIONS_EXTENSION_VERSION": "~4",
    "AzureWebJobsStorage__accountName": None,
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": None,
    "ServiceBusConnection__fullyQualifiedNamespace": None,
    "ServiceBusConnection__credential": "managedidentity",
    "ServiceBusConnection__clientId": None,
    "APPLICATIONINSIGHTS_CONNECTION_STRING": None,
    "AZURE_CLIENT_ID": None,
    "VISIOBOOK_DOCUMENT_STORE": "azure",
    "VISIOBOOK_BLOB_STORE": "azure",
    "VISIOBOOK_QUEUE": "azure",
    "VISIOBOOK_COSMOS_ENDPOINT": None,
    "VISIOBOOK_COSMOS_DATABASE": None,
    "VISIOBOOK_BLOB_ENDPOINT": None,
    "VISIOBOOK_BLOB_CONTAINER": None,
    "VISIOBOOK_SERVICEBUS_NAMESPACE": None,
    "VISIOBOOK_TRUST_FORWARDED_FOR": "true",
    "VISIOBOOK_PUBLIC_URL": None,
    "STRIPE_WEBHOOK_SECRET": None,
    "STRIPE_API_KEY": None,
    "VISIOBOOK_LOG_FORMAT": "json",
    "VISIOBOOK_STORE_LOGS": "warn",
}
KEY_VAULT_SETTINGS = ["STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY"]
# Connection strings with a secret in them have no place in the settings.
SECRET_PATTERN = re.compile(r"AccountKey=|SharedAccessKey=|InstrumentationKey=[0-9a-f-]{36}", re.I)

ENVIRONMENTS = ["dev", "staging", "production"]


class Report:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[str] = []
        self.checked = 0

    def check(self, condition: bool, message: str) -> bool:
        self.checked += 1
        if not condition:
            self.failures.append(message)
            print(f"  FAIL {message}", file=sys.stderr)
        return condition

    def finish(self, detail: str) -> int:
        if self.failures:
            print(f"FAILED: {self.name}: {len(self.failures)} of {self.checked} checks failed")
            return 1
        print(f"ok: {self.name}: {detail}")
        return 0


# ------------------------------------------------------------------------------------------------
# Parsing


def bicep_files() -> list[Path]:
    return sorted(BICEP.rglob("*.bicep"))


def parse_file(path: Path) -> dict[str, Any]:
    from pycep import BicepParser  # installed by scripts/check-bicep

    return BicepParser().parse(file_path=path)


def command_parse(_args: argparse.Namespace) -> int:
    report = Report("pycep parse")
    files = bicep_files()
    report.check(bool(files), f"there are .bicep files under {BICEP}")
    for path in files:
        try:
            parse_file(path)
            report.check(True, "")
        except Exception as error:  # lark raises several kinds; all mean "does not parse"
            first = str(error).strip().splitlines()[:6]
            report.check(False, f"{path.relative_to(REPO)} does not parse: " + " | ".join(first))
    return report.finish(f"{len(files)} files parse")


# ------------------------------------------------------------------------------------------------
# checkov


def command_checkov_report(args: argparse.Namespace) -> int:
    report = Report("checkov")
    raw = json.loads(Path(args.report).read_text())
    runs = raw if isinstance(raw, list) else [raw]
    bicep_runs = [run for run in runs if run.get("check_type") in (None, "bicep")]
    report.check(bool(bicep_runs), "checkov reports bicep results")
    passed = failed = skipped = 0
    for run in bicep_runs:
        summary = run.get("summary", {})
        results = run.get("results", {})
        report.check(summary.get("parsing_errors", 0) == 0,
                     f"checkov parses every file (it could not parse {results.get('parsing_errors')})")
        report.check(summary.get("resource_count", 0) > 0, "checkov scans at least one resource")
        for finding in results.get("failed_checks", []):
            failed += 1
            report.check(False, f"{finding['check_id']} passes: {finding['check_name']} "
                                f"({finding['file_path']}:{finding['file_line_range'][0]}, "
                                f"{finding['resource']})")
        for finding in results.get("skipped_checks", []):
            skipped += 1
            reason = ((finding.get("check_result") or {}).get("suppress_comment") or "").strip()
            if report.check(bool(reason) and reason != "No comment provided",
                            f"{finding['check_id']} is skipped with a reason "
                            f"({finding['file_path']}, {finding['resource']})"):
                short = reason if len(reason) <= 90 else reason[:87] + "..."
                print(f"  skip {finding['check_id']:<14} {finding['resource']}: {short}", file=sys.stderr)
        passed += len(results.get("passed_checks", []))
    return report.finish(f"{passed} passed, {failed} failed, {skipped} skipped with a reason")


# ------------------------------------------------------------------------------------------------
# Reading parsed Bicep


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource, whether or not it is declared in a loop or with a condition."""
    config = resource.get("config", {})
    while isinstance(config, dict) and "config" in config and (
        "loop_type" in config or "condition" in config
    ):
        config = config["config"]
    return config


def loop_array(resource: dict[str, Any]) -> str | None:
    loop = resource.get("config", {}).get("loop_type")
    if not loop:
        return None
    return loop.get("detail", {}).get("array_name")


def get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def resources_of(template: dict[str, Any], rtype: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, res) for name, res in template.get("resources", {}).items()
            if res.get("type", "").lower() == rtype.lower() and not res.get("existing")]


def resolve(template: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """Follows a bare identifier to the variable (or parameter default) it names."""
    if depth > 10 or not isinstance(value, str):
        return value
    variables = template.get("variables", {})
    if value in variables:
        return resolve(template, variables[value].get("value"), depth + 1)
    parameters = template.get("parameters", {})
    if value in parameters and parameters[value].get("default") is not None:
        return resolve(template, parameters[value]["default"], depth + 1)
    return value


def find_key(obj: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere below obj (through function arguments too)."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(find_key(v, key))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(find_key(item, key))
    return found


class Estate:
    """main.bicep and the modules it calls, parsed."""

    def __init__(self) -> None:
        self.main = parse_file(MAIN)
        self.modules: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for module in self.main.get("modules", {}).values():
            path = get(module, "detail.path")
            if path:
                template = parse_file((MAIN.parent / path).resolve())
                self.modules[Path(path).name] = (template, get(module, "config.params") or {})

    def module(self, file_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if file_name not in self.modules:
            raise SystemExit(f"FAILED: main.bicep does not call modules/{file_name}")
        return self.modules[file_name]

    def argument(self, file_name: str, param: str) -> Any:
        """What main.bicep passes to a module parameter, variables followed."""
        template, params = self.module(file_name)
        if param in params:
            return resolve(self.main, params[param])
        default = get(template, f"parameters.{param}.default")
        return resolve(template, default)


# ------------------------------------------------------------------------------------------------
# The code's side


def rust_sources() -> list[Path]:
    roots = [REPO / "src", REPO / "shared", REPO / "functions", REPO / "gpu-jobs"]
    files = []
    for root in roots:
        if root.is_dir():
            files.extend(p for p in root.rglob("*.rs")
                         if "tests" not in p.parts and "conformance" not in p.parts
                         and p.stem != "conformance")
    return files


def code_queues() -> set[str]:
    """Stage queues (Stage::queue) and the queues declared as *_QUEUE constants."""
    names: set[str] = set()
    for path in rust_sources():
        text = path.read_text(errors="replace")
        for match in re.finditer(r"fn queue\(self\) -> &'static str \{(.*?)\n    \}", text, re.S):
            names.update(re.findall(r'=> "([a-z0-9-]+)"', match.group(1)))
        names.update(re.findall(r'const [A-Z_]*QUEUE: &str = "([a-z0-9-]+)";', text))
    return names - TEST_ONLY_NAMES


def code_containers() -> set[str]:
    names: set[str] = set()
    for path in rust_sources():
        text = path.read_text(errors="replace")
        names.update(re.findall(r'const [A-Z_]*CONTAINER: &str = "([a-z0-9-]+)";', text))
    return names - TEST_ONLY_NAMES


def code_ordered_fields() -> set[str]:
    """Fields the code orders queries by: order_by("field", ..) literals and the strings of
    ORDERED_FIELDS constants (fields chosen at run time)."""
    names: set[str] = set()
    for path in rust_sources():
        text = path.read_text(errors="replace")
        names.update(re.findall(r'order_by\(\s*"([^"]*)"', text))
        for match in re.finditer(r'const [A-Z_]*ORDERED_FIELDS: [^=]*= \[(.*?)\];', text, re.S):
            names.update(re.findall(r'"([^"]*)"', match.group(1)))
    return names


def find_binary(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    candidates = []
    for target in [REPO / "target", Path.home() / ".cache/visiobook/target"]:
        for profile in ["release", "debug"]:
            path = target / profile / "visiobook"
            if path.is_file():
                candidates.append(path)
    if not candidates:
        raise SystemExit("FAILED: no visiobook binary; pass --bin or set VISIOBOOK_BIN")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def packaged_bindings(binary: Path) -> list[tuple[str, dict[str, Any]]]:
    out = Path(tempfile.mkdtemp(prefix="visiobook-package-"))
    try:
        data = out / "data"
        result = subprocess.run(
            [str(binary), "--data-dir", str(data), "package", "--out", str(out / "app")],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"FAILED: {binary} package exited {result.returncode}:\n"
                             f"{result.stderr[-2000:]}")
        app = out / "app"
        if not (app / "host.json").is_file():
            raise SystemExit("FAILED: the package has no host.json")
        bindings = []
        for function_json in sorted(app.glob("*/function.json")):
            for binding in json.loads(function_json.read_text()).get("bindings", []):
                bindings.append((function_json.parent.name, binding))
        if not bindings:
            raise SystemExit("FAILED: the package has no function.json")
        return bindings
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# The checks


def check_service_bus(report: Report, estate: Estate) -> list[str]:
    template, _ = estate.module("servicebus.bicep")
    namespaces = resources_of(template, "Microsoft.ServiceBus/namespaces")
    report.check(len(namespaces) == 1, "servicebus.bicep declares one namespace")
    for _, namespace in namespaces:
        report.check(get(body(namespace), "sku.name") == "Standard", "Service Bus is Standard")
        report.check(get(body(namespace), "properties.disableLocalAuth") is True,
                     "Service Bus has disableLocalAuth: true")
    queues_res = resources_of(template, "Microsoft.ServiceBus/namespaces/queues")
    report.check(len(queues_res) == 1, "servicebus.bicep declares its queues in one loop")
    declared: list[str] = []
    for _, queue in queues_res:
        array = loop_array(queue)
        report.check(array == "queueNames", "the queue resource loops over the queueNames parameter")
        value = estate.argument("servicebus.bicep", "queueNames")
        report.check(isinstance(value, list) and all(isinstance(v, str) for v in value),
                     "main.bicep passes a literal list of queue names")
        declared = list(value) if isinstance(value, list) else []
        props = get(body(queue), "properties") or {}
        expect = {
            "lockDuration": "PT1M",
            "maxDeliveryCount": 5,
        }
        for prop, wanted in expect.items():
            passed = resolve(template, props.get(prop))
            if isinstance(passed, str) and passed in template.get("parameters", {}):
                passed = estate.argument("servicebus.bicep", passed)
            report.check(passed == wanted, f"queues have {prop} {wanted!r} (found {passed!r})")
        report.check(props.get("deadLetteringOnMessageExpiration") is True,
                     "queues dead-letter on message expiration")
        report.check(props.get("requiresDuplicateDetection") is True,
                     "queues detect duplicates (the code sends deterministic message ids)")
        window = props.get("duplicateDetectionHistoryTimeWindow")
        if isinstance(window, str) and window in template.get("parameters", {}):
            window = estate.argument("servicebus.bicep", window)
        report.check(isinstance(window, str) and window.startswith("PT"),
                     f"queues set a duplicate-detection window (found {window!r})")
    report.check(len(declared) == len(set(declared)), "no queue is declared twice")
    scaled = estate.argument("servicebus.bicep", "scaledQueueNames")
    if isinstance(scaled, list):
        for name in scaled:
            report.check(name in declared, f"KEDA-scaled queue {name!r} is declared")
    return declared


def check_cosmos(report: Report, estate: Estate) -> list[str]:
    template, _ = estate.module("cosmos.bicep")
    accounts = resources_of(template, "Microsoft.DocumentDB/databaseAccounts")
    report.check(len(accounts) == 1, "cosmos.bicep declares one account")
    for _, account in accounts:
        props = get(body(account), "properties") or {}
        capabilities = [c.get("name") for c in props.get("capabilities", []) if isinstance(c, dict)]
        report.check("EnableServerless" in capabilities, "Cosmos DB is serverless")
        report.check(props.get("disableLocalAuth") is True, "Cosmos DB has disableLocalAuth: true")
    database = estate.argument("cosmos.bicep", "databaseName")
    report.check(database == "visiobook", f"the Cosmos database is 'visiobook' (found {database!r})")
    containers = resources_of(template, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    report.check(len(containers) == 1, "cosmos.bicep declares its containers in one loop")
    declared: list[str] = []
    for _, container in containers:
        report.check(loop_array(container) == "containerNames",
                     "the container resource loops over the containerNames parameter")
        keys = find_key(body(container), "partitionKey")
        report.check(bool(keys) and all(get(k, "paths") == ["/pk"] for k in keys),
                     f"every container is partitioned on /pk (found {keys!r})")
        value = estate.argument("cosmos.bicep", "containerNames")
        report.check(isinstance(value, list), "main.bicep passes a literal list of containers")
        declared = list(value) if isinstance(value, list) else []
    report.check(len(declared) == len(set(declared)), "no container is declared twice")
    fields = estate.argument("cosmos.bicep", "orderedFields")
    report.check(isinstance(fields, list) and bool(fields),
                 "main.bicep passes a literal list of ordered fields")
    for _, container in containers:
        indexes = find_key(body(container), "compositeIndexes")
        report.check(bool(indexes), "every container declares composite indexes")
    variables = template.get("variables", {})
    report.check("ascendingIndexes" in variables and "descendingIndexes" in variables,
                 "cosmos.bicep builds composite indexes in both directions from orderedFields")
    assignments = resources_of(template, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    report.check(bool(assignments), "cosmos.bicep assigns a data-plane role")
    role = resolve(template, "dataContributorRoleId")
    report.check(role == "00000000-0000-0000-0000-000000000002",
                 "the data-plane role is the built-in Data Contributor")
    return declared, list(fields) if isinstance(fields, list) else []


def check_app_settings(report: Report, estate: Estate) -> dict[str, Any]:
    template, _ = estate.module("functionapp.bicep")
    sites = resources_of(template, "Microsoft.Web/sites")
    report.check(len(sites) == 1, "functionapp.bicep declares one site")
    settings: dict[str, Any] = {}
    for _, site in sites:
        site_body = body(site)
        report.check(site_body.get("kind") == "functionapp,linux", "the site is functionapp,linux")
        config = get(site_body, "properties.functionAppConfig") or {}
        report.check(get(config, "runtime.name") == "custom", "the runtime is 'custom'")
        report.check(get(config, "deployment.storage.authentication.type") == "UserAssignedIdentity",
                     "the deployment storage uses the identity")
        raw = resolve(template, get(site_body, "properties.siteConfig.appSettings"))
        report.check(isinstance(raw, list), "appSettings is a literal list of {name, value}")
        for entry in raw if isinstance(raw, list) else []:
            name = entry.get("name")
            report.check(name not in settings, f"app setting {name} appears once")
            settings[name] = entry.get("value")
    plans = resources_of(template, "Microsoft.Web/serverfarms")
    report.check(any(get(body(p), "sku.tier") == "FlexConsumption" for _, p in plans),
                 "the plan is Flex Consumption")
    for name, wanted in REQUIRED_SETTINGS.items():
        if report.check(name in settings, f"the Function App sets {name}") and wanted is not None:
            report.check(settings[name] == wanted,
                         f"{name} is {wanted!r} (found {settings[name]!r})")
    for name in KEY_VAULT_SETTINGS:
        value = settings.get(name)
        report.check(isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri="),
                     f"{name} is a Key Vault reference")
    for name, value in settings.items():
        report.check(not (isinstance(value, str) and SECRET_PATTERN.search(value)),
                     f"app setting {name} holds no key")
    return settings


def check_bindings(report: Report, bindings: list[tuple[str, dict[str, Any]]],
                   queues: list[str], settings: dict[str, Any]) -> int:
    count = 0
    for function, binding in bindings:
        btype = binding.get("type", "")
        if btype in ("serviceBusTrigger", "serviceBus"):
            count += 1
            queue = binding.get("queueName")
            if isinstance(queue, str) and queue.startswith("%") and queue.endswith("%"):
                queue = settings.get(queue.strip("%"))
            report.check(queue in queues,
                         f"{function}: {btype} queue {binding.get('queueName')!r} is declared in "
                         f"bicep (declared: {', '.join(queues)})")
            report.check(binding.get("topicName") is None,
                         f"{function}: {btype} uses a queue (the Bicep declares no topic)")
        connection = binding.get("connection")
        if connection:
            has = (f"{connection}__fullyQualifiedNamespace" in settings
                   or f"{connection}__accountName" in settings
                   or f"{connection}__serviceUri" in settings
                   or f"{connection}__accountEndpoint" in settings
                   or connection in settings)
            report.check(has, f"{function}: connection {connection!r} has "
                              f"{connection}__fullyQualifiedNamespace among the app settings")
            if btype.startswith("serviceBus"):
                report.check(f"{connection}__fullyQualifiedNamespace" in settings,
                             f"{function}: {connection}__fullyQualifiedNamespace is set")
                report.check(settings.get(f"{connection}__credential") == "managedidentity",
                             f"{function}: {connection} authenticates with the managed identity")
    return count


def check_platform(report: Report, estate: Estate) -> None:
    storage, _ = estate.module("storage.bicep")
    for _, account in resources_of(storage, "Microsoft.Storage/storageAccounts"):
        report.check(get(body(account), "properties.allowSharedKeyAccess") is False,
                     "Storage has allowSharedKeyAccess: false")
    report.check(estate.argument("storage.bicep", "artifactsContainerName") == "visiobook",
                 "the artifacts blob container is 'visiobook'")
    report.check(bool(resources_of(storage, "Microsoft.Storage/storageAccounts/blobServices/containers")),
                 "storage.bicep declares blob containers")

    vault, _ = estate.module("keyvault.bicep")
    for _, kv in resources_of(vault, "Microsoft.KeyVault/vaults"):
        props = get(body(kv), "properties") or {}
        for prop in ["enableRbacAuthorization", "enableSoftDelete", "enablePurgeProtection"]:
            report.check(props.get(prop) is True, f"Key Vault has {prop}: true")

    registry, _ = estate.module("registry.bicep")
    for _, acr in resources_of(registry, "Microsoft.ContainerRegistry/registries"):
        report.check(get(body(acr), "properties.adminUserEnabled") is False, "ACR admin user is off")

    aks, _ = estate.module("aks.bicep")
    clusters = resources_of(aks, "Microsoft.ContainerService/managedClusters")
    report.check(len(clusters) == 1, "aks.bicep declares one cluster")
    for _, cluster in clusters:
        props = get(body(cluster), "properties") or {}
        report.check(get(props, "workloadAutoScalerProfile.keda.enabled") is True, "KEDA add-on on")
        report.check(get(props, "oidcIssuerProfile.enabled") is True, "OIDC issuer on")
        report.check(get(props, "securityProfile.workloadIdentity.enabled") is True,
                     "workload identity on")
        report.check(props.get("disableLocalAccounts") is True, "AKS local accounts off")
        report.check(get(props, "aadProfile.enableAzureRBAC") is True, "AKS Azure RBAC on")
        pools = props.get("agentPoolProfiles") or []
        report.check(any(p.get("mode") == "System" for p in pools), "AKS has a system pool")
        gpu = [p for p in pools if "sku=gpu:NoSchedule" in (p.get("nodeTaints") or [])]
        report.check(len(gpu) == 1, "AKS has one pool tainted sku=gpu:NoSchedule")
        for pool in gpu:
            report.check(pool.get("enableAutoScaling") is True and pool.get("minCount") == 0,
                         "the GPU pool autoscales from 0")
    credentials = resources_of(aks, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials")
    subjects = [get(body(c), "properties.subject") for _, c in credentials]
    report.check("system:serviceaccount:${jobsNamespace}:${jobsServiceAccount}" in subjects,
                 "the jobs' service account has a federated credential")
    report.check(estate.argument("aks.bicep", "jobsNamespace") == "visiobook",
                 "the jobs run in namespace 'visiobook'")
    report.check(estate.argument("aks.bicep", "jobsServiceAccount") == "visiobook-jobs",
                 "the jobs run as service account 'visiobook-jobs'")

    apim, _ = estate.module("apim.bicep")
    report.check(bool(resources_of(apim, "Microsoft.ApiManagement/service/apis/policies")),
                 "the API has a policy")
    for _, api in resources_of(apim, "Microsoft.ApiManagement/service/apis"):
        report.check(get(body(api), "properties.path") == "api", "the API is served at /api")
    for policy in sorted((BICEP / "policies").glob("*.xml")):
        text = policy.read_text()
        filled = text.replace("__CALLS__", "100").replace("__PERIOD__", "60")
        try:
            root = ElementTree.fromstring(filled)
            report.check(root.tag == "policies" and root.find("inbound") is not None,
                         f"{policy.name} is a <policies> document with <inbound>")
        except ElementTree.ParseError as error:
            report.check(False, f"{policy.name} is well-formed XML ({error})")
        report.check("__" not in filled, f"{policy.name} has no placeholder apim.bicep leaves unfilled")
        report.check(policy.name in (BICEP / "modules/apim.bicep").read_text(),
                     f"{policy.name} is loaded by apim.bicep")
    by_ip = (BICEP / "policies/api-by-ip.xml").read_text()
    report.check('<rate-limit-by-key' in by_ip and "context.Request.IpAddress" in by_ip,
                 "the dedicated-tier policy rate-limits by caller IP")
    report.check('name="X-Forwarded-For" exists-action="override"' in by_ip,
                 "the gateway overrides X-Forwarded-For (the app trusts its first entry)")
    by_subscription = (BICEP / "policies/api-by-subscription.xml").read_text()
    report.check("<rate-limit " in by_subscription, "the Consumption policy rate-limits")


def check_parameter_files(report: Report, estate: Estate) -> None:
    parameters = estate.main.get("parameters", {})
    required = {name for name, p in parameters.items() if p.get("default") is None}
    for env in ENVIRONMENTS:
        path = BICEP / "parameters" / f"{env}.bicepparam"
        if not report.check(path.is_file(), f"{path.relative_to(REPO)} exists"):
            continue
        text = path.read_text()
        using = re.search(r"^using\s+'([^']+)'", text, re.M)
        report.check(bool(using) and (path.parent / using.group(1)).resolve() == MAIN.resolve(),
                     f"{path.name} is 'using' main.bicep")
        values = dict(re.findall(r"^param\s+(\w+)\s*=\s*(.+?)\s*$", text, re.M))
        for name, value in values.items():
            if not report.check(name in parameters, f"{path.name}: param {name} is declared in main.bicep"):
                continue
            allowed = [d["argument"] for d in parameters[name].get("decorators", [])
                       if d.get("type") == "allowed"]
            literal = re.fullmatch(r"'([^']*)'", value)
            if allowed and literal:
                report.check(literal.group(1) in allowed[0],
                             f"{path.name}: {name} = {value} is one of {allowed[0]}")
        for name in required:
            report.check(name in values, f"{path.name} sets {name}, which has no default")
        report.check(values.get("environmentName") == f"'{env}'",
                     f"{path.name} sets environmentName = '{env}'")


def command_code(args: argparse.Namespace) -> int:
    report = Report("bicep vs code")
    try:
        estate = Estate()
    except Exception as error:  # a file that does not parse: the parse step names it
        print(f"FAILED: bicep vs code: the templates do not parse ({type(error).__name__})")
        return 1
    queues = check_service_bus(report, estate)
    containers, ordered_fields = check_cosmos(report, estate)
    settings = check_app_settings(report, estate)
    check_platform(report, estate)
    check_parameter_files(report, estate)

    from_code_queues = code_queues()
    report.check(bool(from_code_queues), "found the queue names in the Rust sources "
                                         "(Stage::queue, *_QUEUE constants)")
    for name in sorted(set(KNOWN_QUEUES) | from_code_queues):
        report.check(name in queues, f"queue {name!r} (used by the code) is declared in bicep")

    from_code_containers = code_containers()
    report.check(bool(from_code_containers), "found *_CONTAINER constants in the Rust sources")
    for name in sorted(set(KNOWN_CONTAINERS) | from_code_containers):
        report.check(name in containers,
                     f"Cosmos container {name!r} (used by the code) is declared in bicep")

    from_code_fields = code_ordered_fields()
    report.check(bool(from_code_fields), "found order_by fields in the Rust sources")
    for name in sorted(from_code_fields):
        report.check(re.fullmatch(r"[a-z_]+", name) is not None,
                     f"ordered field {name!r} is a top-level field (the index path is /body/FIELD)")
        report.check(name in ordered_fields,
                     f"ordered field {name!r} (used by the code) has a composite index in bicep")

    binary = find_binary(args.bin)
    bindings = packaged_bindings(binary)
    service_bus_bindings = check_bindings(report, bindings, queues, settings)
    report.check(service_bus_bindings > 0, "the package has Service Bus bindings")

    # Each queue has exactly one kind of consumer in Azure: a packaged function's trigger or a
    # KEDA ScaledJob (both would compete for the messages; neither would leave them unread).
    triggered = {binding.get("queueName") for _, binding in bindings
                 if binding.get("type") == "serviceBusTrigger"}
    scaled = estate.argument("servicebus.bicep", "scaledQueueNames")
    scaled = set(scaled) if isinstance(scaled, list) else set()
    for name in sorted(queues):
        consumers = [kind for kind, present in (("a function trigger", name in triggered),
                                                ("a KEDA ScaledJob", name in scaled)) if present]
        report.check(len(consumers) == 1,
                     f"queue {name!r} has one consumer in Azure (found {consumers or 'none'})")

    return report.finish(
        f"{len(queues)} queues, {len(containers)} containers, {len(settings)} app settings; "
        f"{len(bindings)} bindings of {binary.name} checked ({service_bus_bindings} Service Bus)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("parse").set_defaults(run=command_parse)
    checkov = sub.add_parser("checkov-report")
    checkov.add_argument("report")
    checkov.set_defaults(run=command_checkov_report)
    code = sub.add_parser("code")
    code.add_argument("--bin", help="the visiobook binary (default: the newest build found)")
    code.set_defaults(run=command_code)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
