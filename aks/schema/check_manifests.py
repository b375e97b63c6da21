#!/usr/bin/env python3
"""Offline checks of the rendered AKS manifests, run by scripts/check-aks.

    check_manifests.py split OUT_DIR RENDERED.yaml...
        Writes OUT_DIR/<name>.core.yaml for each rendered file: its core Kubernetes resources,
        plus one batch/v1 Job per KEDA ScaledJob built from its jobTargetRef (the Job KEDA will
        create), so that kubernetes-validate --strict checks the pod templates too.

    check_manifests.py check --schema keda.schema.json --cpu-only dev --dockerfile F...
                             --kube-version 1.30.0 RENDERED.yaml...
        Validates the KEDA resources against the JSON Schema, checks the project's conventions
        on every pod template (security context, resources, GPU scheduling, probes, labels,
        workload identity), the references between resources, and the Dockerfiles' user and
        entrypoint; then proves that the checks bite, by breaking copies of the rendered
        resources and expecting each break to be caught. Exits 1 on any problem.

A rendered file is named after what it renders: <overlay>.yaml, or cluster.yaml for aks/cluster.
"""

import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import yaml

PART_OF = "visiobook"
STAGES = ("ingestion", "analysis", "generation", "assembly")
GPU_STAGES = ("generation", "assembly")
GPU_RESOURCE = "nvidia.com/gpu"
GPU_POOL_LABEL = "kubernetes.azure.com/agentpool"
GPU_POOL = "gpu"
GPU_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
DATA_DIR = "/work"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
POD_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SERVING_WORKLOADS = {"Deployment", "StatefulSet", "ReplicaSet"}

# The only deviations from the conventions, each with its reason. Keyed by (kind, namespace,
# name): the NVIDIA device plugin creates its socket in the kubelet's root-owned host directory.
EXEMPTIONS = {
    ("DaemonSet", "kube-system", "nvidia-device-plugin"): {"root", "hostPath", "gpu-pool"},
}

# What the jobs' ConfigMap must say: exact values, or a pattern.
JOB_SETTINGS = {
    "VISIOBOOK_DOCUMENT_STORE": "azure",
    "VISIOBOOK_BLOB_STORE": "azure",
    "VISIOBOOK_QUEUE": "azure",
    "VISIOBOOK_COSMOS_DATABASE": "visiobook",
    "VISIOBOOK_BLOB_CONTAINER": "visiobook",
    "VISIOBOOK_LOG_FORMAT": "json",
    "VISIOBOOK_COSMOS_ENDPOINT": re.compile(r"^https://[a-z0-9-]{3,44}\.documents\.azure\.com(:443)?/?$"),
    "VISIOBOOK_BLOB_ENDPOINT": re.compile(r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/?$"),
    "VISIOBOOK_SERVICEBUS_NAMESPACE": re.compile(r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]\.servicebus\.windows\.net$"),
    "APPLICATIONINSIGHTS_CONNECTION_STRING": re.compile(r"^InstrumentationKey=[0-9a-f-]{36};IngestionEndpoint=https://\S+$"),
}
# Values that would be credentials; identity auth needs none of them in a manifest.
CREDENTIAL = re.compile(r"(AccountKey|SharedAccessKey|SharedAccessSignature|sig)=|password|client_secret", re.I)
CREDENTIAL_NAME = re.compile(r"(^|_)(KEY|SECRET|PASSWORD|CONNECTION_STRING)$")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def target_name(path):
    return os.path.basename(path).rsplit(".", 1)[0]


def ident(doc):
    meta = doc.get("metadata", {})
    return f"{doc.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def is_keda(doc):
    return str(doc.get("apiVersion", "")).startswith("keda.sh/")


def job_from_scaledjob(doc):
    """The batch/v1 Job KEDA creates from a ScaledJob (its jobTargetRef is a JobSpec)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": doc["metadata"]["name"] + "-job",
            "namespace": doc["metadata"].get("namespace"),
            "labels": dict(doc["metadata"].get("labels", {})),
        },
        "spec": copy.deepcopy(doc["spec"]["jobTargetRef"]),
    }


# --- split ------------------------------------------------------------------------------------


def split(out_dir, rendered):
    os.makedirs(out_dir, exist_ok=True)
    for path in rendered:
        core = []
        for doc in load(path):
            if is_keda(doc):
                if doc.get("kind") == "ScaledJob" and isinstance(doc.get("spec", {}).get("jobTargetRef"), dict):
                    core.append(job_from_scaledjob(doc))
            else:
                core.append(doc)
        with open(os.path.join(out_dir, target_name(path) + ".core.yaml"), "w", encoding="utf-8") as out:
            yaml.safe_dump_all(core, out, sort_keys=False)
    return 0


# --- pod conventions --------------------------------------------------------------------------


def pod_templates(doc):
    """(where, kind of workload, pod template) for each pod template in a resource."""
    kind = doc.get("kind")
    if kind == "ScaledJob":
        template = doc.get("spec", {}).get("jobTargetRef", {}).get("template")
        if template is not None:
            yield "jobTargetRef.template", "Job", template
    elif kind in POD_WORKLOADS:
        yield "spec.template", kind, doc.get("spec", {}).get("template", {})
    elif kind == "CronJob":
        yield "spec.jobTemplate.spec.template", "Job", doc["spec"]["jobTemplate"]["spec"]["template"]
    elif kind == "Pod":
        yield "pod", "Pod", {"metadata": doc.get("metadata", {}), "spec": doc.get("spec", {})}


def tolerates_gpu_taint(spec):
    for toleration in spec.get("tolerations") or []:
        if toleration.get("key") != GPU_TAINT["key"]:
            continue
        if toleration.get("effect") not in (None, "", GPU_TAINT["effect"]):
            continue
        operator = toleration.get("operator", "Equal")
        if operator == "Exists" or (operator == "Equal" and toleration.get("value") == GPU_TAINT["value"]):
            return True
    return False


def quantity_missing(resources, section):
    block = (resources or {}).get(section) or {}
    return [name for name in ("cpu", "memory") if name not in block]


def pod_problems(doc, workload_kind, template):
    """Every breach of the conventions in one pod template, as readable strings."""
    meta = doc.get("metadata", {})
    exempt = EXEMPTIONS.get((doc.get("kind"), meta.get("namespace"), meta.get("name")), set())
    problems = []
    spec = template.get("spec") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    pod_sc = spec.get("securityContext") or {}

    for label, wanted in (("app.kubernetes.io/name", None), ("app.kubernetes.io/part-of", PART_OF)):
        if label not in labels or (wanted and labels[label] != wanted):
            problems.append(f"pod label {label}{'=' + wanted if wanted else ''} missing")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is on")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume and "hostPath" not in exempt:
            problems.append(f"volume {volume.get('name')} is a hostPath")

    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    if not containers:
        problems.append("no containers")
    uses_gpu = False
    emptydirs = {v.get("name") for v in spec.get("volumes") or [] if "emptyDir" in v}
    for container in containers:
        name = f"container {container.get('name')}"
        sc = container.get("securityContext") or {}

        def effective(field):
            return sc[field] if field in sc else pod_sc.get(field)

        if "root" not in exempt:
            if effective("runAsNonRoot") is not True:
                problems.append(f"{name}: runAsNonRoot is not true")
            uid = effective("runAsUser")
            if not isinstance(uid, int) or uid <= 0:
                problems.append(f"{name}: runAsUser is not a non-zero uid ({uid!r})")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if capabilities.get("add"):
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        seccomp = (effective("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is {seccomp!r}, not RuntimeDefault")

        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            missing = quantity_missing(resources, section)
            if missing:
                problems.append(f"{name}: no {section} for {', '.join(missing)}")
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        if GPU_RESOURCE in limits or GPU_RESOURCE in requests:
            uses_gpu = True
            if str(limits.get(GPU_RESOURCE)) != str(requests.get(GPU_RESOURCE, limits.get(GPU_RESOURCE))):
                problems.append(f"{name}: {GPU_RESOURCE} requests and limits differ")
            if GPU_RESOURCE not in limits:
                problems.append(f"{name}: {GPU_RESOURCE} requested without a limit")

        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
            problems.append(f"{name}: image {image!r} is not pinned by tag or digest")

        mounts = {m.get("mountPath"): m.get("name") for m in container.get("volumeMounts") or []}
        if sc.get("readOnlyRootFilesystem") is True and mounts.get("/tmp") not in emptydirs:
            problems.append(f"{name}: read-only root filesystem without an emptyDir at /tmp")

        serves = bool(container.get("ports")) and workload_kind in SERVING_WORKLOADS
        if serves:
            for probe, path in (("livenessProbe", "/api/health"), ("readinessProbe", "/api/ready")):
                http = (container.get(probe) or {}).get("httpGet") or {}
                if labels.get("app.kubernetes.io/part-of") == PART_OF:
                    if http.get("path") != path or http.get("port") not in (8080, "http"):
                        problems.append(f"{name}: {probe} is not GET {path} on 8080")
                elif not container.get(probe):
                    problems.append(f"{name}: serves without a {probe}")
        elif workload_kind == "Job" and (container.get("livenessProbe") or container.get("readinessProbe")):
            problems.append(f"{name}: a job that serves nothing has probes")

    selects_gpu_pool = (spec.get("nodeSelector") or {}).get(GPU_POOL_LABEL) == GPU_POOL
    if uses_gpu:
        if not tolerates_gpu_taint(spec):
            problems.append("requests a GPU but does not tolerate sku=gpu:NoSchedule")
        if not selects_gpu_pool:
            problems.append(f"requests a GPU but has no node selector {GPU_POOL_LABEL}={GPU_POOL}")
    elif "gpu-pool" not in exempt and (selects_gpu_pool or tolerates_gpu_taint(spec)):
        problems.append("asks for the GPU pool without requesting a GPU")
    return problems, uses_gpu


# --- the rendered estate of one overlay ---------------------------------------------------------


def configmap_named(docs, namespace, name):
    for doc in docs:
        meta = doc.get("metadata", {})
        if doc.get("kind") == "ConfigMap" and meta.get("namespace") == namespace and meta.get("name") == name:
            return doc
    return None


def overlay_problems(target, docs, cpu_only):
    """Cross-resource checks of one environment's render."""
    problems = []
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    namespaces = [d["metadata"]["name"] for d in by_kind.get("Namespace", [])]
    if namespaces != [f"visiobook-{target}"]:
        problems.append(f"expected the one namespace visiobook-{target}, found {namespaces}")
    for doc in docs:
        meta = doc.get("metadata", {})
        if doc.get("kind") != "Namespace" and meta.get("namespace") != f"visiobook-{target}":
            problems.append(f"{ident(doc)}: not in namespace visiobook-{target}")
    if by_kind.get("Secret"):
        problems.append("a Secret is rendered: the jobs authenticate with workload identity")

    accounts = {d["metadata"]["name"]: d for d in by_kind.get("ServiceAccount", [])}
    auths = {d["metadata"]["name"]: d for d in by_kind.get("TriggerAuthentication", [])}
    scaled = {d["metadata"]["name"]: d for d in by_kind.get("ScaledJob", [])}
    if sorted(scaled) != sorted(f"visiobook-{s}" for s in STAGES):
        problems.append(f"expected one ScaledJob per AKS stage {STAGES}, found {sorted(scaled)}")

    for name, job in sorted(scaled.items()):
        where = f"{target}: ScaledJob {name}"
        stage = name.removeprefix("visiobook-")
        spec = job.get("spec", {})
        pod = spec.get("jobTargetRef", {}).get("template", {})
        pod_spec = pod.get("spec", {})
        pod_labels = pod.get("metadata", {}).get("labels", {})
        container = (pod_spec.get("containers") or [{}])[0]

        command = list(container.get("command") or []) + list(container.get("args") or [])
        if command != ["visiobook", "job", stage, "--once"]:
            problems.append(f"{where}: runs {command}, not visiobook job {stage} --once")
        if pod_spec.get("restartPolicy") != "Never":
            problems.append(f"{where}: restartPolicy is not Never")
        for trigger in spec.get("triggers", []):
            if trigger.get("metadata", {}).get("queueName") != stage:
                problems.append(f"{where}: trigger reads queue {trigger.get('metadata', {}).get('queueName')!r}")
            ref = trigger.get("authenticationRef", {}).get("name")
            if ref not in auths:
                problems.append(f"{where}: authenticationRef {ref!r} names no TriggerAuthentication")

        # Workload identity: the label, the service account and its client id.
        if pod_labels.get("azure.workload.identity/use") != "true":
            problems.append(f"{where}: pod lacks the label azure.workload.identity/use: \"true\"")
        account = accounts.get(pod_spec.get("serviceAccountName"))
        client_id = None
        if account is None:
            problems.append(f"{where}: serviceAccountName {pod_spec.get('serviceAccountName')!r} is not rendered")
        else:
            client_id = account["metadata"].get("annotations", {}).get("azure.workload.identity/client-id", "")
            if not UUID.match(client_id) or client_id == "00000000-0000-0000-0000-000000000000":
                problems.append(f"{where}: service account client id {client_id!r} is not set")
        for trigger in spec.get("triggers", []):
            auth = auths.get(trigger.get("authenticationRef", {}).get("name"))
            identity = (auth or {}).get("spec", {}).get("podIdentity", {}).get("identityId", "")
            if auth and (not UUID.match(identity) or identity == "00000000-0000-0000-0000-000000000000"):
                problems.append(f"{where}: the TriggerAuthentication's identityId {identity!r} is not set")

        # Settings: the ConfigMap the container reads, complete, consistent, without credentials.
        settings = {}
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                config = configmap_named(docs, job["metadata"]["namespace"], source["configMapRef"]["name"])
                if config is None:
                    problems.append(f"{where}: envFrom ConfigMap {source['configMapRef']['name']!r} is not rendered")
                else:
                    settings.update(config.get("data") or {})
            elif "secretRef" in source:
                problems.append(f"{where}: reads a Secret through envFrom")
        env = {e["name"]: e for e in container.get("env") or []}
        for key, wanted in JOB_SETTINGS.items():
            value = settings.get(key)
            if value is None:
                problems.append(f"{where}: {key} is not set")
            elif isinstance(wanted, str) and value != wanted:
                problems.append(f"{where}: {key}={value!r}, expected {wanted!r}")
            elif not isinstance(wanted, str) and not wanted.match(value):
                problems.append(f"{where}: {key}={value!r} is not of the expected form")
        for key, value in settings.items():
            if key != "APPLICATIONINSIGHTS_CONNECTION_STRING" and (CREDENTIAL.search(value) or CREDENTIAL_NAME.search(key)):
                problems.append(f"{where}: the ConfigMap holds what looks like a credential ({key})")
        for key, entry in env.items():
            if "value" in entry and (CREDENTIAL.search(str(entry["value"])) or CREDENTIAL_NAME.search(key)):
                problems.append(f"{where}: env {key} looks like a credential")
        if env.get("VISIOBOOK_DATA_DIR", {}).get("value") != DATA_DIR:
            problems.append(f"{where}: VISIOBOOK_DATA_DIR is not {DATA_DIR}")
        mounts = {m.get("mountPath"): m.get("name") for m in container.get("volumeMounts") or []}
        emptydirs = {v.get("name") for v in pod_spec.get("volumes") or [] if "emptyDir" in v}
        if mounts.get(DATA_DIR) not in emptydirs:
            problems.append(f"{where}: no emptyDir at {DATA_DIR}")
        bus = settings.get("VISIOBOOK_SERVICEBUS_NAMESPACE", "")
        for trigger in spec.get("triggers", []):
            if trigger.get("metadata", {}).get("namespace") != bus.split(".", 1)[0]:
                problems.append(f"{where}: trigger namespace {trigger.get('metadata', {}).get('namespace')!r} is not {bus!r}'s")

        # Which stages get a GPU.
        uses_gpu = any(GPU_RESOURCE in ((c.get("resources") or {}).get("limits") or {}) for c in pod_spec.get("containers") or [])
        image = str(container.get("image", ""))
        if stage in GPU_STAGES and target not in cpu_only:
            if not uses_gpu:
                problems.append(f"{where}: a GPU stage without {GPU_RESOURCE}")
            if "/visiobook-cuda:" not in image and not image.startswith("visiobook-cuda:"):
                problems.append(f"{where}: a GPU stage on image {image!r}, not visiobook-cuda")
        elif uses_gpu:
            problems.append(f"{where}: requests a GPU ({'CPU-only environment' if target in cpu_only else 'a CPU stage'})")
        elif "visiobook-cpu" not in image:
            problems.append(f"{where}: a CPU job on image {image!r}, not visiobook-cpu")
    return problems


def resource_problems(doc):
    problems = []
    labels = doc.get("metadata", {}).get("labels") or {}
    if "app.kubernetes.io/name" not in labels and doc.get("kind") != "Namespace":
        problems.append("label app.kubernetes.io/name missing")
    if labels.get("app.kubernetes.io/part-of") != PART_OF:
        problems.append(f"label app.kubernetes.io/part-of={PART_OF} missing")
    return problems


# --- Dockerfiles --------------------------------------------------------------------------------


def dockerfile_problems(path, uids):
    text = open(path, encoding="utf-8").read()
    logical = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in logical.splitlines() if line.strip() and not line.strip().startswith("#")]
    problems = []
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    if len(stages) < 2:
        problems.append("not a multi-stage build")
    if not any("cargo build --release --locked --bin visiobook" in line for line in lines):
        problems.append("does not run cargo build --release --locked --bin visiobook")
    final = lines[max(i for i, line in enumerate(lines) if line.upper().startswith("FROM ")):]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    if not users:
        problems.append("the final stage sets no USER")
    else:
        uid = users[-1].split(":")[0]
        if not uid.isdigit() or int(uid) == 0:
            problems.append(f"the final USER {users[-1]!r} is not a numeric non-root uid")
        elif int(uid) not in uids:
            problems.append(f"the final USER {uid} is not the manifests' runAsUser {sorted(uids)}")
    entry = [line for line in final if line.upper().startswith("ENTRYPOINT ")]
    if not entry or json.loads(entry[-1].split(None, 1)[1]) != ["visiobook"]:
        problems.append('the final stage\'s ENTRYPOINT is not ["visiobook"]')
    for line in stages:
        image = line.split()[1]
        if image.startswith("${") or image in {"build", "models"}:
            continue
        if ":" not in image or image.endswith(":latest"):
            problems.append(f"base image {image!r} is not pinned by tag")
    name = os.path.basename(path)
    needs = ["ffmpeg", "espeak-ng", "tesseract-ocr-eng", "tesseract-ocr-fra", "poppler-utils"]
    if name.endswith(".cuda"):
        needs += ["onnxruntime-gpu", "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video"]
        if not re.search(r"nvidia/cuda:[0-9.]+-(cudnn-)?runtime-ubuntu(22|24)\.04", text):
            problems.append("the base is not an nvidia/cuda *-runtime-ubuntu22.04/24.04 image")
    else:
        if not re.search(r"FROM debian:\$\{DEBIAN_RELEASE\}-slim|FROM debian:bookworm-slim", text):
            problems.append("the runtime is not Debian bookworm-slim")
    for need in needs:
        if need not in text:
            problems.append(f"does not install {need}")
    return problems


# --- check --------------------------------------------------------------------------------------


def schema_errors(validator, doc):
    return sorted(
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(doc)
    )


def check_all(rendered, validator, cpu_only):
    problems = []
    uids = set()
    for path in rendered:
        target = target_name(path)
        docs = load(path)
        for doc in docs:
            where = f"{target}: {ident(doc)}"
            if is_keda(doc):
                problems += [f"{where}: schema: {e}" for e in schema_errors(validator, doc)]
            problems += [f"{where}: {p}" for p in resource_problems(doc)]
            for place, kind, template in pod_templates(doc):
                found, _ = pod_problems(doc, kind, template)
                problems += [f"{where} {place}: {p}" for p in found]
                spec = template.get("spec") or {}
                for container in spec.get("containers") or []:
                    uid = (container.get("securityContext") or {}).get("runAsUser", (spec.get("securityContext") or {}).get("runAsUser"))
                    if isinstance(uid, int) and uid > 0 and "visiobook" in str(container.get("image", "")):
                        uids.add(uid)
        if "set-by-overlay" in open(path, encoding="utf-8").read():
            problems.append(f"{target}: a base placeholder (set-by-overlay) is left; is components/environment included?")
        if target != "cluster":
            problems += overlay_problems(target, docs, cpu_only)
        else:
            daemonsets = [d for d in docs if d.get("kind") == "DaemonSet"]
            if not any(d["metadata"]["name"] == "nvidia-device-plugin" for d in daemonsets):
                problems.append("cluster: the NVIDIA device plugin DaemonSet is not rendered")
            for doc in daemonsets:
                spec = doc["spec"]["template"]["spec"]
                if not tolerates_gpu_taint(spec):
                    problems.append(f"cluster: {ident(doc)} does not tolerate sku=gpu:NoSchedule")
                if (spec.get("nodeSelector") or {}).get(GPU_POOL_LABEL) != GPU_POOL:
                    problems.append(f"cluster: {ident(doc)} is not confined to the GPU pool")
    return problems, uids


def self_test(rendered, validator, cpu_only, kube_version):
    """Breaks copies of the rendered resources and expects every break to be caught."""
    import kubernetes_validate

    docs = {target_name(p): load(p) for p in rendered}
    gpu_target = next(t for t in docs if t not in cpu_only and t != "cluster")
    base = docs[gpu_target]

    def pick(kind, name=None, source=base):
        return next(copy.deepcopy(d) for d in source if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name))

    generation = pick("ScaledJob", "visiobook-generation")
    failures = []

    def expect_schema_rejects(label, doc):
        if not schema_errors(validator, doc):
            failures.append(f"the schema accepted {label}")

    no_count = copy.deepcopy(generation)
    del no_count["spec"]["triggers"][0]["metadata"]["messageCount"]
    expect_schema_rejects("a ScaledJob without messageCount", no_count)
    unknown = copy.deepcopy(generation)
    unknown["spec"]["maxReplicas"] = 3
    expect_schema_rejects("a ScaledJob with an unknown field (spec.maxReplicas)", unknown)
    unknown_meta = copy.deepcopy(generation)
    unknown_meta["spec"]["triggers"][0]["metadata"]["connectionFromEnv"] = "SERVICEBUS_CONNECTION"
    expect_schema_rejects("a trigger with a connection string", unknown_meta)
    two = copy.deepcopy(generation)
    two["spec"]["triggers"][0]["metadata"]["messageCount"] = "5"
    expect_schema_rejects("messageCount \"5\"", two)
    number = copy.deepcopy(generation)
    number["spec"]["triggers"][0]["metadata"]["messageCount"] = 1
    expect_schema_rejects("an unquoted messageCount", number)
    no_deadline = copy.deepcopy(generation)
    del no_deadline["spec"]["jobTargetRef"]["activeDeadlineSeconds"]
    expect_schema_rejects("a jobTargetRef without activeDeadlineSeconds", no_deadline)
    auth = pick("TriggerAuthentication")
    auth["spec"]["secretTargetRef"] = [{"parameter": "connection", "name": "sb", "key": "c"}]
    expect_schema_rejects("a TriggerAuthentication with a secret", auth)
    auth = pick("TriggerAuthentication")
    auth["spec"]["podIdentity"]["provider"] = "azure"
    expect_schema_rejects("the retired AAD pod identity provider", auth)

    def expect_pod_flagged(label, doc):
        _, kind, template = next(pod_templates(doc))
        found, _ = pod_problems(doc, kind, template)
        if not found:
            failures.append(f"the conventions accepted {label}")

    def pod_spec(doc):
        return doc["spec"]["jobTargetRef"]["template"]["spec"]

    mutations = {
        "runAsNonRoot: false": lambda s: (s["securityContext"].update(runAsNonRoot=False), s["containers"][0]["securityContext"].update(runAsNonRoot=False)),
        "runAsUser: 0": lambda s: (s["securityContext"].update(runAsUser=0), s["containers"][0]["securityContext"].update(runAsUser=0)),
        "a writable root filesystem": lambda s: s["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
        "privilege escalation": lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        "capabilities not dropped": lambda s: s["containers"][0]["securityContext"].pop("capabilities"),
        "an unconfined seccomp profile": lambda s: (s["securityContext"].pop("seccompProfile"), s["containers"][0]["securityContext"].pop("seccompProfile")),
        "no limits": lambda s: s["containers"][0]["resources"].pop("limits"),
        "no memory request": lambda s: s["containers"][0]["resources"]["requests"].pop("memory"),
        "a GPU job without the toleration": lambda s: s.pop("tolerations"),
        "a GPU job off the GPU pool": lambda s: s["nodeSelector"].pop(GPU_POOL_LABEL),
        "no emptyDir at /tmp": lambda s: s["containers"][0].update(volumeMounts=[m for m in s["containers"][0]["volumeMounts"] if m["mountPath"] != "/tmp"]),
        "an image tagged latest": lambda s: s["containers"][0].update(image="visiobook-cuda:latest"),
    }
    for label, mutate in mutations.items():
        broken = copy.deepcopy(generation)
        mutate(pod_spec(broken))
        expect_pod_flagged(label, broken)
    analysis = pick("ScaledJob", "visiobook-analysis")
    pod_spec(analysis).setdefault("tolerations", []).append({"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"})
    expect_pod_flagged("a CPU job on the GPU pool", analysis)

    def expect_overlay_flagged(label, mutate):
        broken = copy.deepcopy(base)
        mutate(broken)
        if not overlay_problems(gpu_target, broken, cpu_only):
            failures.append(f"the cross-resource checks accepted {label}")

    def on(kind, name, fn):
        def apply(docs_):
            for d in docs_:
                if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
                    fn(d)
        return apply

    expect_overlay_flagged("a trigger on another Service Bus namespace", on("ScaledJob", "visiobook-assembly", lambda d: d["spec"]["triggers"][0]["metadata"].update(namespace="someone-elses-bus")))
    expect_overlay_flagged("an unset KEDA identity", on("TriggerAuthentication", None, lambda d: d["spec"]["podIdentity"].update(identityId="00000000-0000-0000-0000-000000000000")))
    expect_overlay_flagged("an unset jobs identity", on("ServiceAccount", None, lambda d: d["metadata"]["annotations"].update({"azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"})))
    expect_overlay_flagged("a pod without the workload identity label", on("ScaledJob", "visiobook-analysis", lambda d: d["spec"]["jobTargetRef"]["template"]["metadata"]["labels"].pop("azure.workload.identity/use")))
    expect_overlay_flagged("a missing VISIOBOOK_QUEUE", on("ConfigMap", None, lambda d: d["data"].pop("VISIOBOOK_QUEUE")))
    expect_overlay_flagged("a storage key in the ConfigMap", on("ConfigMap", None, lambda d: d["data"].update(VISIOBOOK_BLOB_CONNECTION="DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc")))
    expect_overlay_flagged("a GPU stage without a GPU", on("ScaledJob", "visiobook-generation", lambda d: [r.pop(GPU_RESOURCE) for r in d["spec"]["jobTargetRef"]["template"]["spec"]["containers"][0]["resources"].values()]))
    expect_overlay_flagged("a job that is not --once", on("ScaledJob", "visiobook-assembly", lambda d: d["spec"]["jobTargetRef"]["template"]["spec"]["containers"][0].update(args=["job", "assembly", "--loop"])))

    job = job_from_scaledjob(generation)
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    try:
        kubernetes_validate.validate(job, kube_version, strict=True)
        failures.append("kubernetes-validate --strict accepted a misspelt field (readOnlyRootFileSystem)")
    except kubernetes_validate.ValidationError:
        pass
    return failures


def check(args):
    with open(args.schema, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    cpu_only = set(args.cpu_only or [])

    problems, uids = check_all(args.rendered, validator, cpu_only)
    for dockerfile in args.dockerfile or []:
        problems += [f"{dockerfile}: {p}" for p in dockerfile_problems(dockerfile, uids)]
    # The self-test breaks copies of a render that passes; on a failing render it proves nothing.
    failures = []
    if not problems:
        try:
            failures = self_test(args.rendered, validator, cpu_only, args.kube_version)
        except (KeyError, IndexError, StopIteration, TypeError) as error:
            failures = [f"could not break the rendered resources as planned ({error!r})"]

    for problem in problems:
        print(f"FAIL {problem}")
    for failure in failures:
        print(f"FAIL self-test: {failure}")
    kedas = sum(1 for p in args.rendered for d in load(p) if is_keda(d))
    pods = sum(1 for p in args.rendered for d in load(p) for _ in pod_templates(d))
    print(f"checked {kedas} KEDA resources against {os.path.basename(args.schema)}, "
          f"{pods} pod templates against the conventions, {len(args.dockerfile or [])} Dockerfiles; "
          f"{len(problems)} problems, {len(failures)} self-test failures")
    return 1 if problems or failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    split_cmd = commands.add_parser("split")
    split_cmd.add_argument("out_dir")
    split_cmd.add_argument("rendered", nargs="+")
    check_cmd = commands.add_parser("check")
    check_cmd.add_argument("--schema", required=True)
    check_cmd.add_argument("--cpu-only", action="append", help="an overlay whose jobs run without a GPU")
    check_cmd.add_argument("--dockerfile", action="append")
    check_cmd.add_argument("--kube-version", default="1.30.0")
    check_cmd.add_argument("rendered", nargs="+")
    args = parser.parse_args()
    if args.command == "split":
        return split(args.out_dir, args.rendered)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
