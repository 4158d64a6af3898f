import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../functions/core/config.ts';
import type { ConfigError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { createHarness, type Harness, recordingRetries } from './harness.ts';

/** A harness set up for one target type's integration test. */
export interface TargetHarness {
  h: Harness;
  /** Every delay a failed delivery asked of the queue, in order (empty it between tests). */
  retryDelays: number[];
  /** Records one event, as ingest does. */
  ingest(event: DeploymentEvent): Promise<unknown>;
  /** Hands a transition's message to the dispatcher again (the queue's retry, a duplicate, a redrive). */
  redeliver(deploymentId: string, seq: number, target: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A harness whose config has the given targets, each routed from the deployments whose service matches a
 * glob (`routes`: glob → target name), with the secrets written where the local secret source reads them,
 * a 10 s HTTP client and 5 attempts per transition.
 */
export async function createTargetHarness(options: {
  targets: Record<string, Record<string, unknown>>;
  routes: Record<string, string>;
  secrets: Record<string, string>;
}): Promise<TargetHarness> {
  const retryDelays: number[] = [];
  const h = await createHarness({
    maxReceives: 5,
    http: new HttpClient({ timeoutMs: 10_000 }),
    queue: recordingRetries(retryDelays),
    config: {
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: options.targets,
      routes: Object.entries(options.routes).map(([service, target]) => ({
        match: { service },
        targets: [target],
      })),
      dispatch: { maxReceives: 5 },
    },
  });
  for (const [name, value] of Object.entries(options.secrets)) writeFileSync(join(h.secretsDir, name), value);
  return {
    h,
    retryDelays,
    ingest: (event) => ingestEvent(event, h.runtime.ingest),
    redeliver: (deploymentId, seq, target) => h.queue.enqueue([{ v: 1, deploymentId, seq, target }]),
    stop: () => h.stop(),
  };
}

/** A config with one target entry `t` routed from everything, parsed (throws ConfigError). */
export function configWithTarget(entry: Record<string, unknown>) {
  return parseConfig({
    api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
    targets: { t: entry },
    routes: [{ targets: ['t'] }],
  });
}

/** The issues (`path: message`) a config with this target entry fails with; empty when it is valid. */
export function targetConfigIssues(entry: Record<string, unknown>): string[] {
  try {
    configWithTarget(entry);
    return [];
  } catch (error) {
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}
