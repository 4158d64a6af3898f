import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodeDeployOperations } from '../../functions/adapters/aws/codedeploy-operations.ts';
import { STOP_CLAIM_LEASE_MS, stopDeployment } from '../../functions/core/operator-actions.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';

/** A CodeDeploy deployment in progress as Shipcast records it. */
function inProgress(id: string, codeDeployId: string, stopClaim?: Deployment['stopClaim']): Deployment {
  const at = '2026-03-01T09:58:00.000Z';
  return {
    id,
    source: 'codedeploy',
    sourceDeploymentId: `${ACCOUNT}:${REGION}:${codeDeployId}`,
    service: 'checkout',
    environment: 'production',
    status: 'in_progress',
    createdAt: at,
    updatedAt: at,
    startedAt: at,
    transitions: [{ seq: 1, from: null, to: 'in_progress', at, recordedAt: at, eventId: `evt-${id}` }],
    ...(stopClaim ? { stopClaim } : {}),
    rev: 1,
  } as unknown as Deployment;
}

describe('a stop claim left behind by a request that never finished', () => {
  let h: Harness;
  let codedeploy: CodeDeployServer;
  let operations: CodeDeployOperations;

  beforeAll(async () => {
    codedeploy = await startCodeDeployServer();
    h = await createHarness({
      config: { api: { tokens: [{ name: 'ci', secret: 'api-token' }] }, targets: {}, routes: [] },
    });
    operations = new CodeDeployOperations({
      accounts: [ACCOUNT],
      endpoint: codedeploy.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      timeoutMs: 10_000,
    });
  });
  afterAll(async () => {
    await h?.stop();
    await codedeploy?.close();
  });

  const stop = (deploymentId: string, requestId: string) =>
    stopDeployment(
      { deploymentId, action: 'stop', via: 'api', actor: 'bob', actorId: 'ci', requestId },
      { ...h.runtime.ingest, operations },
    );
  const stopCalls = (codeDeployId: string) =>
    codedeploy.requests.filter(
      (r) =>
        r.target === 'CodeDeploy_20141006.StopDeployment' &&
        (r.body as { deploymentId?: string }).deploymentId === codeDeployId,
    );

  it('holds while it is fresh, then lapses and the next request stops the deployment', async () => {
    codedeploy.deployments.set('d-CLAIMED01', {
      deploymentId: 'd-CLAIMED01',
      applicationName: 'checkout',
      deploymentGroupName: 'checkout-production',
      status: 'InProgress',
      creator: 'user',
    });
    const claimedAt = h.clock.now().toISOString();
    await h.store.saveDeployment(
      inProgress('dep_claimed01', 'd-CLAIMED01', { actorId: 'U0GONE', at: claimedAt }),
      null,
    );

    h.clock.advance(STOP_CLAIM_LEASE_MS - 1_000);
    const held = await stop('dep_claimed01', 'r1');
    expect(held).toMatchObject({ kind: 'refused', reason: 'already_requested' });
    expect(stopCalls('d-CLAIMED01')).toHaveLength(0);

    h.clock.advance(2_000);
    const lapsed = await stop('dep_claimed01', 'r2');
    expect(lapsed).toMatchObject({ kind: 'requested' });
    expect(stopCalls('d-CLAIMED01')).toHaveLength(1);
    const record = await h.store.getDeployment('dep_claimed01');
    expect(record?.stopClaim).toBeUndefined();
    expect(record?.stopRequest).toMatchObject({ actor: 'bob', outcome: 'requested' });
  });
});
