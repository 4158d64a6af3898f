import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  count,
  createLogger,
  createMetrics,
  maskSecrets,
  registerSecret,
} from '../../functions/core/telemetry.ts';
import { captureLogs, type LogEntry } from '../support/capture-logger.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The environment telemetry reads, cleared so the machine's own settings do not decide a test. */
const TELEMETRY_ENV = [
  'SHIPCAST_LOG_LEVEL',
  'POWERTOOLS_LOG_LEVEL',
  'AWS_LAMBDA_LOG_LEVEL',
  'SHIPCAST_METRICS',
  'POWERTOOLS_METRICS_DISABLED',
  '_X_AMZN_TRACE_ID',
];

/** Every line written to stdout and stderr while `run` runs, with the stream it went to. */
function written(run: () => void): { stream: 'stdout' | 'stderr'; line: string }[] {
  const out: { stream: 'stdout' | 'stderr'; line: string }[] = [];
  const spies = (['stdout', 'stderr'] as const).map((stream) =>
    vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      for (const line of text.split('\n')) if (line) out.push({ stream, line });
      return true;
    }),
  );
  try {
    run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return out;
}

type Emf = Record<string, unknown> & {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
};
const emfRecords = (entries: LogEntry[]) => entries.filter((entry) => '_aws' in entry) as Emf[];

describe('telemetry', () => {
  let capture: ReturnType<typeof captureLogs> | undefined;
  beforeEach(() => {
    for (const name of TELEMETRY_ENV) vi.stubEnv(name, '');
  });
  afterEach(() => {
    capture?.restore();
    capture = undefined;
    vi.unstubAllEnvs();
  });

  describe('logger', () => {
    it('writes one JSON object per line: level, message, ISO timestamp, service, then the attributes', () => {
      capture = captureLogs();
      const before = Date.now();
      capture.logger.info('delivered', { deploymentId: 'dep_1', eventId: 'evt_1', queueMessageId: 'm-1' });

      expect(capture.lines).toHaveLength(1);
      const entry = capture.entries()[0]!;
      expect(Object.keys(entry)).toEqual([
        'level',
        'message',
        'timestamp',
        'service',
        'deploymentId',
        'eventId',
        'queueMessageId',
      ]);
      expect(entry).toEqual({
        level: 'INFO',
        message: 'delivered',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        service: 'shipcast-test',
        deploymentId: 'dep_1',
        eventId: 'evt_1',
        queueMessageId: 'm-1',
      });
      expect(Date.parse(entry.timestamp as string)).toBeGreaterThanOrEqual(before - 1);
    });

    it('writes DEBUG and INFO to stdout, WARN and ERROR to stderr (as Powertools did)', () => {
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'DEBUG');
      const logger = createLogger();
      const lines = written(() => {
        logger.debug('d');
        logger.info('i');
        logger.warn('w');
        logger.error('e');
      });
      expect(lines.map(({ stream, line }) => [stream, (JSON.parse(line) as LogEntry).level])).toEqual([
        ['stdout', 'DEBUG'],
        ['stdout', 'INFO'],
        ['stderr', 'WARN'],
        ['stderr', 'ERROR'],
      ]);
    });

    it('writes INFO and above by default, and DEBUG only when a level asks for it', () => {
      const levelsWritten = () => {
        const logger = createLogger();
        return written(() => {
          logger.debug('d');
          logger.info('i');
          logger.warn('w');
          logger.error('e');
        }).map(({ line }) => (JSON.parse(line) as LogEntry).level);
      };
      expect(levelsWritten()).toEqual(['INFO', 'WARN', 'ERROR']);

      vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', 'WARN');
      expect(levelsWritten()).toEqual(['WARN', 'ERROR']);
      // POWERTOOLS_LOG_LEVEL wins over Lambda's, SHIPCAST_LOG_LEVEL over both; any case.
      vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'debug');
      expect(levelsWritten()).toEqual(['DEBUG', 'INFO', 'WARN', 'ERROR']);
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'Error');
      expect(levelsWritten()).toEqual(['ERROR']);
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'silent');
      expect(levelsWritten()).toEqual([]);
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'TRACE');
      expect(levelsWritten()).toEqual(['DEBUG', 'INFO', 'WARN', 'ERROR']);
      // An unknown level is INFO, and does not throw.
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'verbose');
      expect(levelsWritten()).toEqual(['INFO', 'WARN', 'ERROR']);
    });

    it('adds the persistent keys of a child (and of its parent) to every line; a child keeps the level', () => {
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'WARN');
      capture = captureLogs();
      vi.stubEnv('SHIPCAST_LOG_LEVEL', 'DEBUG');
      const child = capture.logger.createChild({ persistentKeys: { queueMessageId: 'm-1', seq: 3 } });
      const grandchild = child.createChild({ persistentKeys: { target: 'audit', seq: 4 } });

      grandchild.info('not written: the level was WARN when the parent was created');
      grandchild.warn('retrying', { attempt: 2 });
      child.error('failed');
      capture.logger.warn('parent');

      expect(capture.entries()).toEqual([
        expect.objectContaining({
          message: 'retrying',
          queueMessageId: 'm-1',
          target: 'audit',
          seq: 4,
          attempt: 2,
        }),
        expect.objectContaining({ message: 'failed', queueMessageId: 'm-1', seq: 3 }),
        expect.objectContaining({ message: 'parent' }),
      ]);
      expect(capture.entries()[1]).not.toHaveProperty('target');
      expect(capture.entries()[2]).not.toHaveProperty('queueMessageId');
    });

    it('does not let attributes replace level, message, timestamp or service', () => {
      capture = captureLogs();
      capture.logger
        .createChild({ persistentKeys: { level: 'DEBUG' } })
        .info('real', { message: 'fake', service: 'checkout', timestamp: 0, environment: 'prod' });

      expect(capture.entries()).toEqual([
        expect.objectContaining({
          level: 'INFO',
          message: 'real',
          service: 'shipcast-test',
          environment: 'prod',
        }),
      ]);
      expect(capture.entries()[0]?.timestamp).toEqual(expect.any(String));
    });

    it('adds the X-Ray trace id (the Root of _X_AMZN_TRACE_ID) when there is one', () => {
      capture = captureLogs();
      capture.logger.info('untraced');
      vi.stubEnv(
        '_X_AMZN_TRACE_ID',
        'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1',
      );
      capture.logger.info('traced');

      const [untraced, traced] = capture.entries();
      expect(untraced).not.toHaveProperty('xray_trace_id');
      expect(traced?.xray_trace_id).toBe('1-5759e988-bd862e3fe1be46a994272793');
    });

    it('masks a registered secret in every log line, including error messages and nested values', () => {
      registerSecret('s3cr3t-token-value');
      capture = captureLogs();

      capture.logger.error('call failed', {
        error: new Error('POST https://hooks.example.com/s3cr3t-token-value answered 401'),
        detail: { header: 'Bearer s3cr3t-token-value', list: [['s3cr3t-token-value']] },
        's3cr3t-token-value': 'as a key',
      });
      capture.logger.info('token s3cr3t-token-value');

      const text = capture.lines.join('\n');
      expect(text).not.toContain('s3cr3t-token-value');
      expect(capture.entries()[0]).toMatchObject({
        error: { message: 'POST https://hooks.example.com/**** answered 401' },
        detail: { header: 'Bearer ****', list: [['****']] },
        '****': 'as a key',
      });
      expect(capture.entries()[1]?.message).toBe('token ****');
      expect(maskSecrets('x s3cr3t-token-value y')).toBe('x **** y');
    });

    it('writes errors as name, message, stack and cause, masked, nested ones and cause chains too', () => {
      registerSecret('hunter2-in-a-url');
      capture = captureLogs();
      const root = new TypeError('fetch failed for hunter2-in-a-url');
      const error = new Error('delivery to https://x.example/hunter2-in-a-url failed', { cause: root });

      capture.logger.error('failed', { error, nested: { errors: [new RangeError('bad')] } });

      const entry = capture.entries()[0] as LogEntry & {
        error: { name: string; message: string; stack: string; cause: Record<string, string> };
        nested: { errors: Record<string, string>[] };
      };
      expect(Object.keys(entry.error)).toEqual(['name', 'message', 'stack', 'cause']);
      expect(entry.error.name).toBe('Error');
      expect(entry.error.message).toBe('delivery to https://x.example/**** failed');
      expect(entry.error.stack).toMatch(/^Error: delivery to https:\/\/x\.example\/\*\*\*\* failed\n\s+at /);
      expect(entry.error.cause).toEqual({
        name: 'TypeError',
        message: 'fetch failed for ****',
        stack: expect.stringMatching(/^TypeError: fetch failed for \*\*\*\*\n\s+at /),
      });
      expect(entry.nested.errors[0]).toMatchObject({ name: 'RangeError', message: 'bad' });
      expect(capture.lines[0]).not.toContain('hunter2-in-a-url');
    });

    it('logs an Error passed instead of attributes as `error` (how the local pollers log)', () => {
      capture = captureLogs();
      capture.logger.error('polling failed', new Error('connection refused'));
      expect(capture.entries()[0]).toMatchObject({ error: { name: 'Error', message: 'connection refused' } });
    });

    it('bounds a cause chain that never ends', () => {
      capture = captureLogs();
      const error = new Error('0');
      let last = error;
      for (let i = 1; i < 100; i++) {
        const next = new Error(String(i));
        last.cause = next;
        last = next;
      }
      capture.logger.error('deep', { error });
      let depth = 0;
      let node = capture.entries()[0]?.error as { cause?: unknown } | string | undefined;
      while (typeof node === 'object' && node) {
        depth++;
        node = node.cause as typeof node;
      }
      expect(depth).toBeGreaterThan(5);
      expect(depth).toBeLessThan(20);
      expect(node).toBe('[Truncated]');
    });

    it('writes circular references as "[Circular]" and bigints as strings, without throwing', () => {
      capture = captureLogs();
      const item: Record<string, unknown> = { id: 'dep_1', size: 12n };
      item.self = item;
      item.children = [{ parent: item }];
      const error = new Error('loop');
      error.cause = error;
      const shared = { n: 1 };

      expect(() => capture?.logger.info('cycle', { item, error, a: shared, b: shared })).not.toThrow();

      expect(capture.entries()[0]).toMatchObject({
        item: { id: 'dep_1', size: '12', self: '[Circular]', children: [{ parent: '[Circular]' }] },
        error: { message: 'loop', cause: '[Circular]' },
        // The same object twice, not inside itself, is no cycle.
        a: { n: 1 },
        b: { n: 1 },
      });
    });

    it('never throws into the caller: an attribute that cannot be read gives a line that says so', () => {
      capture = captureLogs();
      const hostile = {
        get boom(): string {
          throw new Error('getter failed');
        },
      };
      expect(() => capture?.logger.warn('with hostile attributes', { hostile })).not.toThrow();

      expect(capture.entries()).toEqual([
        expect.objectContaining({
          level: 'WARN',
          message: 'with hostile attributes',
          log_error: expect.stringContaining('could not be serialized'),
        }),
      ]);
    });

    it('is created without writing anything', () => {
      expect(written(() => createLogger('quiet').createChild({ persistentKeys: { a: 1 } }))).toEqual([]);
    });
  });

  describe('metrics', () => {
    it('emits one CloudWatch Embedded Metric Format record per count', () => {
      capture = captureLogs();
      const metrics = createMetrics();
      const before = Date.now();

      count(metrics, 'Deliveries', { target: 'audit', outcome: 'delivered' });
      count(metrics, 'Retries', { target: 'audit' }, 3);

      const [first, second, ...rest] = emfRecords(capture.entries());
      expect(rest).toEqual([]);
      expect(Object.keys(first!)).toEqual(['_aws', 'service', 'target', 'outcome', 'Deliveries']);
      expect(first).toEqual({
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'Shipcast',
              Dimensions: [['service', 'target', 'outcome']],
              Metrics: [{ Name: 'Deliveries', Unit: 'Count' }],
            },
          ],
        },
        service: 'shipcast',
        target: 'audit',
        outcome: 'delivered',
        Deliveries: 1,
      });
      expect(first?._aws.Timestamp).toBeGreaterThanOrEqual(before);
      expect(first?._aws.Timestamp).toBeLessThanOrEqual(Date.now());
      expect(second).toMatchObject({
        _aws: {
          CloudWatchMetrics: [{ Dimensions: [['service', 'target']], Metrics: [{ Name: 'Retries' }] }],
        },
        Retries: 3,
      });
    });

    it('writes the records to stdout', () => {
      const metrics = createMetrics('shipcast-dispatch');
      const lines = written(() => count(metrics, 'DeadLettered', { queue: 'dispatch' }));
      expect(lines.map(({ stream }) => stream)).toEqual(['stdout']);
      expect(JSON.parse(lines[0]!.line)).toMatchObject({ service: 'shipcast-dispatch', DeadLettered: 1 });
    });

    it('keeps a record within EMF limits: 30 dimensions, non-blank values of at most 1024 characters', () => {
      capture = captureLogs();
      const dimensions: Record<string, string> = { blank: ' ', empty: '', long: 'v'.repeat(2000) };
      for (let i = 0; i < 40; i++) dimensions[`d${i}`] = `value${i}`;
      dimensions.notAString = 42 as unknown as string;

      count(createMetrics(), 'Deliveries', dimensions);

      const [record] = emfRecords(capture.entries());
      const names = record?._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? [];
      expect(names).toHaveLength(30);
      expect(names.slice(0, 3)).toEqual(['service', 'long', 'd0']);
      expect(names).not.toContain('blank');
      expect(names).not.toContain('empty');
      expect(names).not.toContain('notAString');
      for (const name of names) expect(record?.[name]).toEqual(expect.any(String));
      expect(record?.long).toBe('v'.repeat(1024));
      expect(record).not.toHaveProperty('d28');
      expect(record?.Deliveries).toBe(1);
    });

    it('writes no record for a metric name EMF refuses, nor one that collides with a key of the record', () => {
      capture = captureLogs();
      const metrics = createMetrics();
      count(metrics, '', { target: 'audit' });
      count(metrics, 'M'.repeat(256), { target: 'audit' });
      count(metrics, 'service', { target: 'audit' });
      count(metrics, '_aws', {});
      count(metrics, 'Deliveries', { target: 'audit' }, Number.NaN);
      expect(emfRecords(capture.entries())).toEqual([]);

      // A dimension named like the metric is dropped, the metric kept.
      count(metrics, 'M'.repeat(255), { ['M'.repeat(255)]: 'x', target: 'audit' });
      const [record] = emfRecords(capture.entries());
      expect(record?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'target']]);
      expect(record?.['M'.repeat(255)]).toBe(1);
    });

    it('writes nothing when metrics are turned off (npm start sets SHIPCAST_METRICS=off)', () => {
      const counted = () => written(() => count(createMetrics(), 'Deliveries', { target: 'audit' })).length;
      expect(counted()).toBe(1);

      vi.stubEnv('SHIPCAST_METRICS', 'off');
      expect(counted()).toBe(0);
      vi.stubEnv('SHIPCAST_METRICS', 'FALSE');
      expect(counted()).toBe(0);

      // POWERTOOLS_METRICS_DISABLED is still honoured when SHIPCAST_METRICS is unset...
      vi.stubEnv('SHIPCAST_METRICS', '');
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
      expect(counted()).toBe(0);
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
      expect(counted()).toBe(1);
      // ...and SHIPCAST_METRICS=on wins over it.
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', '1');
      vi.stubEnv('SHIPCAST_METRICS', 'on');
      expect(counted()).toBe(1);
    });

    it('is created without writing anything', () => {
      expect(written(() => createMetrics())).toEqual([]);
    });
  });

  it.each([
    ['telemetry.ts', 3 * 1024],
    ['secret-mask.ts', 1536],
  ])(
    'stays small: %s bundles to at most %i bytes minified, with no dependency (but the masking)',
    async (file, budget) => {
      const result = await build({
        entryPoints: [`${ROOT}functions/core/${file}`],
        external: ['./secret-mask.ts'],
        absWorkingDir: ROOT,
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'node',
        target: 'node22',
        write: false,
        outfile: 'telemetry.mjs',
        metafile: true,
        logLevel: 'silent',
      });
      const output = Object.values(result.metafile.outputs)[0]!;
      expect(Object.keys(output.inputs)).toEqual([`functions/core/${file}`]);
      expect(output.bytes).toBeLessThanOrEqual(budget);
    },
  );
});
