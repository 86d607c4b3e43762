// Validates rendered Kubernetes manifests (multi-document YAML) of helm/certbridge.
//
// Usage: node validate.mjs MANIFESTS.yaml [--values VALUES.json --schema values.schema.json]
//
// For every object:
//  1. the Kubernetes schema of its apiVersion/kind (kubernetes-models and, for ServiceMonitor,
//     @kubernetes-models/prometheus-operator, through @kubernetes-models/validate);
//  2. unknown fields, which those schemas let pass: the generated validator is run over a
//     proxy of the object that records which property names the validator looks up. A typed
//     object's validator looks up every property its schema declares, so a key it never looked
//     up is unknown to the schema. Maps (labels, resources.limits, ...) are enumerated by the
//     validator and so accept any key; objects the schema leaves free-form are not checked;
//  3. the chart's own rules: the app.kubernetes.io/* labels on every object, and the
//     restricted Pod Security profile on every pod template.
// With --values, the merged chart values are also checked against values.schema.json (as
// helm does before rendering).
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const manifestPath = args[0];
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!manifestPath) {
  console.error("usage: node validate.mjs MANIFESTS.yaml [--values VALUES.json --schema values.schema.json]");
  process.exit(2);
}

const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

// --- values against values.schema.json ---------------------------------------------------
if (opt("--values")) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = ajv.compile(JSON.parse(readFileSync(opt("--schema"), "utf8")));
  if (!check(JSON.parse(readFileSync(opt("--values"), "utf8")))) {
    for (const e of check.errors) {
      problem("values", `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);
    }
  }
}

// --- which generated schema validates an apiVersion/kind -------------------------------------
function schemaFile(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const v = cap(version);
  if (group === "monitoring.coreos.com") {
    return join(here, "node_modules/@kubernetes-models/prometheus-operator/_schemas",
      `MonitoringCoreosCom${v}${kind}.mjs`);
  }
  const g = group === "" ? "Core" : group.replace(/\.k8s\.io$/, "").split(".").map(cap).join("");
  return join(here, "node_modules/kubernetes-models/_schemas", `IoK8sApi${g}${v}${kind}.mjs`);
}

// --- proxies that record what the validator reads ---------------------------------------------
function track(value, path, nodes) {
  if (value === null || typeof value !== "object") return value;
  const node = { path, value, read: new Set(), enumerated: false };
  nodes.push(node);
  const children = new Map();
  const child = (key) => {
    if (!children.has(key)) {
      const p = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
      children.set(key, track(value[key], p, nodes));
    }
    return children.get(key);
  };
  return new Proxy(value, {
    get(target, key) {
      if (typeof key !== "string") return target[key];
      node.read.add(key);
      if (!Object.prototype.hasOwnProperty.call(target, key)) return target[key];
      return child(key);
    },
    has(target, key) {
      node.read.add(key);
      return key in target;
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, key) {
      const d = Reflect.getOwnPropertyDescriptor(target, key);
      if (d && typeof key === "string" && Object.prototype.hasOwnProperty.call(target, key)) {
        d.value = child(key);
      }
      return d;
    },
  });
}

function describeErrors(errors) {
  return (errors || []).map((e) => `${e.instancePath || "/"} ${e.keyword} ${JSON.stringify(e.params)}`).join("; ");
}

// --- the chart's own rules --------------------------------------------------------------------
const requiredLabels = ["app.kubernetes.io/name", "app.kubernetes.io/instance",
  "app.kubernetes.io/version", "app.kubernetes.io/managed-by"];

function checkRestricted(where, podSpec) {
  const psc = podSpec.securityContext || {};
  if (psc.runAsNonRoot !== true) problem(where, "pod securityContext.runAsNonRoot must be true (restricted)");
  if (psc.seccompProfile?.type !== "RuntimeDefault" && psc.seccompProfile?.type !== "Localhost") {
    problem(where, "pod securityContext.seccompProfile.type must be RuntimeDefault (restricted)");
  }
  if (podSpec.hostNetwork || podSpec.hostPID || podSpec.hostIPC) problem(where, "host namespaces (restricted)");
  for (const c of [...(podSpec.initContainers || []), ...(podSpec.containers || [])]) {
    const sc = c.securityContext || {};
    const w = `${where} container ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) problem(w, "allowPrivilegeEscalation must be false (restricted)");
    if (!(sc.capabilities?.drop || []).includes("ALL")) problem(w, "capabilities.drop must include ALL (restricted)");
    if ((sc.capabilities?.add || []).some((a) => a !== "NET_BIND_SERVICE")) problem(w, "capabilities.add beyond NET_BIND_SERVICE (restricted)");
    if (sc.privileged) problem(w, "privileged (restricted)");
    if (sc.readOnlyRootFilesystem !== true) problem(w, "readOnlyRootFilesystem must be true (the image supports it)");
    if (sc.runAsUser === 0) problem(w, "runAsUser 0 (restricted)");
  }
  for (const v of podSpec.volumes || []) {
    if (v.hostPath) problem(where, `volume ${v.name}: hostPath (restricted)`);
  }
}

// --- every object -------------------------------------------------------------------------------
const docs = parseAllDocuments(readFileSync(manifestPath, "utf8"));
let count = 0;
for (const doc of docs) {
  if (doc.errors.length) {
    problem(manifestPath, `YAML: ${doc.errors[0].message}`);
    continue;
  }
  const obj = doc.toJS();
  if (obj === null || obj === undefined) continue;
  count++;
  const where = `${obj.kind || "?"}/${obj.metadata?.name || "?"}`;
  if (!obj.apiVersion || !obj.kind) {
    problem(where, "apiVersion and kind are required");
    continue;
  }
  const file = schemaFile(obj.apiVersion, obj.kind);
  if (!existsSync(file)) {
    problem(where, `no schema for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  const { validate } = await import(pathToFileURL(file).href);
  if (!validate(obj)) problem(where, `schema: ${describeErrors(validate.errors)}`);

  const nodes = [];
  validate(track(obj, "", nodes));
  for (const node of nodes) {
    if (Array.isArray(node.value) || node.enumerated || node.read.size === 0) continue;
    for (const key of Object.keys(node.value)) {
      if (!node.read.has(key)) problem(where, `unknown field ${`${node.path}.${key}`.replace(/^\./, "")}`);
    }
  }

  const labels = obj.metadata?.labels || {};
  for (const l of requiredLabels) if (!labels[l]) problem(where, `label ${l} missing`);
  const podSpec = obj.kind === "Deployment" || obj.kind === "Job" ? obj.spec?.template?.spec : undefined;
  if (podSpec) checkRestricted(where, podSpec);
}

if (count === 0) problem(manifestPath, "no objects");
if (problems.length) {
  for (const p of problems) console.error(`k8s-validate: ${p}`);
  console.error(`k8s-validate: ${manifestPath}: ${problems.length} problem(s) in ${count} object(s)`);
  process.exit(1);
}
console.log(`k8s-validate: ${manifestPath}: ${count} objects valid, no unknown fields`);
