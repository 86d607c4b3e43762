// Prints the broker Deployment of rendered chart output in the form podman 4.3's kube play
// can run (tools/ci/kube-deploy.sh): the ports list and the probes are removed, because that
// podman publishes every containerPort on the host (two replicas collide) and does not run
// Kubernetes probes. Everything else is the chart's.
// Usage: node podman-deployment.mjs RENDERED.yaml
import { readFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";

const docs = parseAllDocuments(readFileSync(process.argv[2], "utf8")).map((d) => d.toJS());
const deployments = docs.filter((d) => d && d.kind === "Deployment");
if (deployments.length !== 1) {
  console.error(`podman-deployment: want one Deployment, found ${deployments.length}`);
  process.exit(1);
}
const deployment = deployments[0];
for (const c of deployment.spec.template.spec.containers) {
  delete c.ports;
  delete c.readinessProbe;
  delete c.livenessProbe;
}
process.stdout.write(stringify(deployment));
