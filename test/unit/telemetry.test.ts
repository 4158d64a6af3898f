import { afterEach, describe, expect, it } from 'vitest';
import { count, createMetrics, maskSecrets, registerSecret } from '../../functions/core/telemetry.ts';
import { captureLogs } from '../support/capture-logger.ts';

describe('telemetry', () => {
  let capture: ReturnType<typeof captureLogs> | undefined;
  afterEach(() => capture?.restore());

  it('writes structured JSON log lines with the keys it is given', () => {
    capture = captureLogs();
    capture.logger.info('delivered', { deploymentId: 'dep_1', eventId: 'evt_1', queueMessageId: 'm-1' });

    expect(capture.entries()).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'delivered',
        deploymentId: 'dep_1',
        eventId: 'evt_1',
        queueMessageId: 'm-1',
      }),
    ]);
  });

  it('masks a registered secret in every log line, including error messages and nested values', () => {
    registerSecret('s3cr3t-token-value');
    capture = captureLogs();

    capture.logger.error('call failed', {
      error: new Error('POST https://hooks.example.com/s3cr3t-token-value answered 401'),
      detail: { header: 'Bearer s3cr3t-token-value' },
    });

    expect(capture.lines.join('\n')).not.toContain('s3cr3t-token-value');
    expect(capture.lines.join('\n')).toContain('****');
    expect(maskSecrets('x s3cr3t-token-value y')).toBe('x **** y');
  });

  it('emits CloudWatch Embedded Metric Format records for counts', () => {
    capture = captureLogs();
    const metrics = createMetrics();

    count(metrics, 'Deliveries', { target: 'audit', outcome: 'delivered' });

    const emf = capture.entries().find((entry) => '_aws' in entry) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    };
    expect(emf).toBeDefined();
    expect(emf._aws.CloudWatchMetrics[0]?.Namespace).toBe('Shipcast');
    expect(emf._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name)).toEqual(['Deliveries']);
    expect(emf._aws.CloudWatchMetrics[0]?.Dimensions[0]).toEqual(
      expect.arrayContaining(['target', 'outcome']),
    );
    expect(emf).toMatchObject({ target: 'audit', outcome: 'delivered', Deliveries: 1 });
  });
});
