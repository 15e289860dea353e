// Offline validation of the Kubernetes manifests: every resource listed in
// kustomization.yaml is checked against its Kubernetes JSON schema (from the
// kubernetes-models package), then the references between resources are
// checked: selectors match pod labels, probes hit Folio's /readyz and /healthz,
// the HPA, volumes, ConfigMaps and Secrets name things that exist.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { Namespace, ConfigMap, Secret, Service, PersistentVolumeClaim } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';

const here = dirname(fileURLToPath(import.meta.url));
const models = {
  'v1/Namespace': Namespace, 'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret,
  'v1/Service': Service, 'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment, 'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};
const problems = [];
const kustomization = parse(readFileSync(join(here, 'kustomization.yaml'), 'utf8'));
const resources = [];
for (const file of kustomization.resources) {
  for (const doc of parseAllDocuments(readFileSync(join(here, file), 'utf8'))) {
    if (doc.errors.length) problems.push(`${file}: ${doc.errors.join('; ')}`);
    const object = doc.toJS();
    if (!object) continue;
    const key = `${object.apiVersion}/${object.kind}`;
    const Model = models[key];
    if (!Model) { problems.push(`${file}: no schema for ${key}`); continue; }
    try { new Model(object).validate(); } catch (e) { problems.push(`${file} ${object.kind}/${object.metadata?.name}: ${e.message}`); }
    resources.push({ file, object });
  }
}
const named = (kind, name) => resources.find(r => r.object.kind === kind && r.object.metadata.name === name);
const workloads = resources.filter(r => ['Deployment', 'StatefulSet'].includes(r.object.kind));
for (const { file, object } of workloads) {
  const labels = object.spec.template.metadata.labels ?? {};
  for (const [k, v] of Object.entries(object.spec.selector.matchLabels)) {
    if (labels[k] !== v) problems.push(`${file}: ${object.metadata.name} selector ${k}=${v} does not match its pod labels`);
  }
  const pod = object.spec.template.spec;
  for (const volume of pod.volumes ?? []) {
    const claim = volume.persistentVolumeClaim?.claimName;
    if (claim && !named('PersistentVolumeClaim', claim)) problems.push(`${file}: volume claim ${claim} does not exist`);
  }
  for (const container of pod.containers) {
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef && !named('ConfigMap', source.configMapRef.name)) problems.push(`${file}: ConfigMap ${source.configMapRef.name} missing`);
      if (source.secretRef && !named('Secret', source.secretRef.name)) problems.push(`${file}: Secret ${source.secretRef.name} missing`);
    }
    if (container.image.startsWith('folio')) {
      if (container.readinessProbe?.httpGet?.path !== '/readyz') problems.push(`${file}: ${object.metadata.name} must be ready on /readyz`);
      if (container.livenessProbe?.httpGet?.path !== '/healthz') problems.push(`${file}: ${object.metadata.name} must be live on /healthz`);
      const role = container.args?.[container.args.indexOf('--role') + 1];
      if (!['ingest', 'query'].includes(role)) problems.push(`${file}: ${object.metadata.name} runs no split role`);
    }
  }
}
for (const { file, object } of resources.filter(r => r.object.kind === 'Service')) {
  const selector = object.spec.selector ?? {};
  const backed = workloads.some(w => Object.entries(selector).every(([k, v]) => w.object.spec.template.metadata.labels?.[k] === v));
  if (!backed) problems.push(`${file}: Service ${object.metadata.name} selects no pods`);
}
for (const { file, object } of resources.filter(r => r.object.kind === 'HorizontalPodAutoscaler')) {
  const target = object.spec.scaleTargetRef;
  if (!named(target.kind, target.name)) problems.push(`${file}: HPA target ${target.kind}/${target.name} missing`);
}
const ingest = named('Deployment', 'folio-ingest')?.object;
if (ingest && (ingest.spec.replicas !== 1 || ingest.spec.strategy?.type !== 'Recreate')) {
  problems.push('folio-ingest must be a single Recreate pod: it is the full-text index\'s only writer');
}
const qdrant = named('StatefulSet', 'qdrant')?.object;
if (!qdrant || qdrant.spec.replicas < 3) problems.push('Qdrant must run as a cluster of at least 3 nodes');
const config = named('ConfigMap', 'folio-config')?.object.data ?? {};
if (Number(config.FOLIO__VECTORS__REPLICATION_FACTOR) < 2) problems.push('the Qdrant collection needs replication factor 2');
if (problems.length) {
  console.error(`kubernetes manifests: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`kubernetes manifests: ${resources.length} resources valid against their schemas; references consistent`);
