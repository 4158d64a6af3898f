import { createHash } from 'node:crypto';

/** Short, stable hash of the given parts (hex, 96 bits). */
export function stableHash(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('hex').slice(0, 24);
}

/** The deterministic Shipcast deployment id: a hash of the source and the source's own id. */
export function deploymentIdFor(source: string, sourceDeploymentId: string): string {
  return `dep_${stableHash(source, sourceDeploymentId)}`;
}

/** A deterministic event id from the parts that identify one event of a source. */
export function eventIdFor(source: string, ...identity: string[]): string {
  return `evt_${stableHash(source, ...identity)}`;
}
