import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'metrics-token-1a2b3c4d';

type Emf = Record<string, unknown> & {
  _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
};

describe('metrics of finished deployments', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let setting: string | undefined;

  beforeAll(async () => {
    setting = process.env.SHIPCAST_METRICS;
    process.env.SHIPCAST_METRICS = 'on';
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    if (setting === undefined) delete process.env.SHIPCAST_METRICS;
    else process.env.SHIPCAST_METRICS = setting;
    await h?.stop();
  });

  /** The EMF records naming `DeploymentFinished` written while `body` is posted. */
  const finishedRecords = async (body: Record<string, unknown>): Promise<Emf[]> => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    });
    try {
      const response = await api.request('/v1/events', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(202);
    } finally {
      spy.mockRestore();
    }
    return lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Emf)
      .filter((record) => record._aws && 'DeploymentFinished' in record);
  };

  it('emits DeploymentFinished by service, environment and outcome, and LeadTimeSeconds from the commit time', async () => {
    const started = await finishedRecords({
      service: 'web',
      environment: 'production',
      status: 'started',
      version: '7',
      commit: 'abc',
      commitTime: '2026-03-01T09:00:00Z',
      timestamp: '2026-03-01T09:30:00Z',
    });
    const finished = await finishedRecords({
      service: 'web',
      environment: 'production',
      status: 'succeeded',
      version: '7',
      timestamp: '2026-03-01T10:00:00Z',
    });

    expect(started).toEqual([]);
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({
      service: 'web',
      environment: 'production',
      outcome: 'succeeded',
      DeploymentFinished: 1,
      LeadTimeSeconds: 3600,
    });
    expect(finished[0]?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'Shipcast',
        Dimensions: [['service', 'environment', 'outcome']],
        Metrics: [{ Name: 'DeploymentFinished', Unit: 'Count' }],
      },
      {
        Namespace: 'Shipcast',
        Dimensions: [['service', 'environment']],
        Metrics: [{ Name: 'LeadTimeSeconds', Unit: 'Seconds' }],
      },
    ]);
  });

  it('emits no lead time for a failed deployment or one without a known commit time, and nothing for a repeat', async () => {
    const failed = await finishedRecords({
      service: 'web',
      environment: 'production',
      status: 'failed',
      version: '8',
      commit: 'def',
      commitTime: '2026-03-02T09:00:00Z',
    });
    const repeat = await finishedRecords({
      service: 'web',
      environment: 'production',
      status: 'failed',
      version: '8',
    });
    const unknown = await finishedRecords({
      service: 'web',
      environment: 'staging',
      status: 'succeeded',
      version: '9',
    });

    expect(failed.map((r) => [r.outcome, 'LeadTimeSeconds' in r])).toEqual([['failed', false]]);
    expect(repeat).toEqual([]);
    expect(unknown.map((r) => [r.environment, r.outcome, 'LeadTimeSeconds' in r])).toEqual([
      ['staging', 'succeeded', false],
    ]);
  });
});
