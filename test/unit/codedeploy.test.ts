import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/core/errors.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import {
  CODEDEPLOY_ERROR_DESCRIPTIONS,
  CODEDEPLOY_STATUS_TABLE,
  describeCodeDeployError,
  mapCodeDeployStatus,
  parseCodeDeployMessage,
  parseCodeDeployTime,
} from '../../functions/core/sources/codedeploy.ts';
import { unwrapSnsLambdaEvent, unwrapSnsSqsBody } from '../../functions/core/sources/sns.ts';

const FIXTURES = new URL('../fixtures/codedeploy/', import.meta.url);
const receivedAt = '2024-05-01T12:00:00.000Z';
const context = { receivedAt, where: 'SNS message' };

function fixtureText(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(fixtureText(name));
}

function parse(message: unknown) {
  return parseCodeDeployMessage(message, context);
}

function invalid(message: unknown): InvalidInputError {
  try {
    parse(message);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError');
}

const checkoutId = '123456789012:eu-west-2:d-4F2KQ8ZX1';
const checkoutDetails = {
  application: 'checkout',
  deploymentGroup: 'checkout-production',
  region: 'eu-west-2',
  account: '123456789012',
  codeDeployId: 'd-4F2KQ8ZX1',
  triggerName: 'shipcast-all-events',
};

describe('parseCodeDeployMessage on the fixtures', () => {
  it('parses a real "created" message: Java dates, JSON-encoded overview, null completeTime', () => {
    const event = parse(fixtureText('deployment-created.real.message.json'));

    expect(event).toEqual({
      eventId: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      source: 'codedeploy',
      sourceDeploymentId: checkoutId,
      deploymentId: deploymentIdFor('codedeploy', checkoutId),
      kind: 'deployment',
      status: 'queued',
      sourceStatus: 'CREATED',
      occurredAt: '2022-10-13T15:50:45.000Z',
      receivedAt,
      service: 'checkout',
      environment: 'checkout-production',
      account: '123456789012',
      region: 'eu-west-2',
      startedAt: '2022-10-13T15:50:45.000Z',
      counts: { succeeded: 0, failed: 0, skipped: 0, inProgress: 0, pending: 0 },
      details: checkoutDetails,
    });
  });

  it('parses a real "succeeded" message of the same deployment: same deploymentId, new eventId', () => {
    const created = parse(fixtureText('deployment-created.real.message.json'));
    const event = parse(fixtureText('deployment-succeeded.real.message.json'));

    expect(event).toMatchObject({
      deploymentId: created.deploymentId,
      status: 'succeeded',
      sourceStatus: 'SUCCEEDED',
      occurredAt: '2022-10-13T15:57:02.000Z',
      startedAt: '2022-10-13T15:50:45.000Z',
      finishedAt: '2022-10-13T15:57:02.000Z',
      counts: { succeeded: 1, failed: 0 },
    });
    expect(event.eventId).not.toBe(created.eventId);
    expect(event.error).toBeUndefined();
    expect(event.rollbackOfSourceId).toBeUndefined();
  });

  it('parses a real "failed" message with a JSON-encoded errorInformation', () => {
    const event = parse(fixtureText('deployment-failed-rolledback.real.message.json'));

    expect(event).toMatchObject({
      sourceDeploymentId: '123456789012:eu-west-2:d-9RBK2L7QA',
      status: 'failed',
      sourceStatus: 'FAILED',
      finishedAt: '2022-10-14T08:46:18.000Z',
      counts: { failed: 1 },
      error: {
        code: 'ECS_UPDATE_ERROR',
        message: 'CodeDeploy detected that the replacement task set is unhealthy.',
      },
    });
  });

  it('parses the documented "failed" message: epoch-second strings, object fields, string counts', () => {
    const event = parse(fixtureText('deployment-failed.documented.message.json'));

    expect(event).toMatchObject({
      sourceDeploymentId: '111222333444:us-west-1:d-75I7MBT7C',
      status: 'failed',
      sourceStatus: 'Failed',
      service: 'billing-api',
      environment: 'billing-api-prod',
      startedAt: '2015-11-05T17:23:08.595Z',
      finishedAt: '2015-11-05T17:23:10.402Z',
      occurredAt: '2015-11-05T17:23:10.402Z',
      counts: { failed: 10, inProgress: 0, pending: 0, skipped: 0, succeeded: 0 },
      error: {
        code: 'IAM_ROLE_MISSING',
        message: 'IAM Role is missing for deployment group: billing-api-prod',
      },
      details: { triggerName: 'deploy-failed', region: 'us-west-1', account: '111222333444' },
    });
    expect(event.rollbackOfSourceId).toBeUndefined();
  });

  it('links a rollback to the deployment it rolls back, qualified by account and region', () => {
    const event = parse(fixtureText('rollback-created.real.message.json'));

    expect(event.sourceDeploymentId).toBe('123456789012:eu-west-2:d-7XN3RB0PQ');
    expect(event.status).toBe('queued');
    expect(event.rollbackOfSourceId).toBe('123456789012:eu-west-2:d-9RBK2L7QA');
    const rolledBack = parse(fixtureText('deployment-failed-rolledback.real.message.json'));
    expect(event.rollbackOfSourceId).toBe(rolledBack.sourceDeploymentId);
  });

  it('parses an instance message: in progress, no application, the instance and its own status', () => {
    const event = parse(fixtureText('instance-succeeded.documented.message.json'));

    expect(event).toEqual({
      eventId: expect.stringMatching(/^evt_/),
      source: 'codedeploy',
      sourceDeploymentId: '111222333444:us-east-2:d-75I7MBT7C',
      deploymentId: deploymentIdFor('codedeploy', '111222333444:us-east-2:d-75I7MBT7C'),
      kind: 'instance',
      status: 'in_progress',
      sourceStatus: 'Succeeded',
      occurredAt: '2015-11-05T17:23:27.564Z',
      receivedAt,
      instance: { id: 'arn:aws:ec2:us-east-2:444455556666:instance/i-496589f7', status: 'Succeeded' },
      account: '111222333444',
      region: 'us-east-2',
      details: {
        region: 'us-east-2',
        account: '111222333444',
        codeDeployId: 'd-75I7MBT7C',
        triggerName: 'instance-succeeded',
      },
    });
  });

  it('reads the SNS envelope of an SQS body and of a Lambda event to the same event', () => {
    const [fromLambda] = unwrapSnsLambdaEvent(JSON.parse(fixtureText('sns-lambda-event.json')));
    const fromSqs = unwrapSnsSqsBody(fixtureText('sns-sqs-body.json'), 'SQS message');
    const direct = parse(fixtureText('deployment-succeeded.real.message.json'));

    const viaSqs = parse(fromSqs.message);
    const viaLambda = parse(fromLambda!.message);

    expect(viaSqs).toEqual(direct);
    expect(viaLambda).toEqual(direct);
  });

  it('accepts every *.message.json fixture, as a string and as an object', () => {
    const names = readdirSync(FIXTURES).filter((name) => name.endsWith('.message.json'));
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) {
      expect(parse(fixtureText(name))).toEqual(parse(fixture(name)));
    }
  });
});

describe('status mapping', () => {
  it.each([
    ['CREATED', 'queued'],
    ['Created', 'queued'],
    ['QUEUED', 'queued'],
    ['IN_PROGRESS', 'in_progress'],
    ['InProgress', 'in_progress'],
    ['in_progress', 'in_progress'],
    ['BAKING', 'in_progress'],
    ['READY', 'in_progress'],
    ['SUCCEEDED', 'succeeded'],
    ['succeeded', 'succeeded'],
    ['FAILED', 'failed'],
    ['STOPPED', 'stopped'],
  ])('maps deployment status %s to %s, ignoring case and _', (raw, status) => {
    expect(mapCodeDeployStatus('deployment', raw)).toBe(status);
    const event = parse({ ...fixture('deployment-created.real.message.json'), status: raw });
    expect(event.status).toBe(status);
    expect(event.sourceStatus).toBe(raw);
  });

  it('maps every table entry the same in UPPER_SNAKE, API and lower case', () => {
    for (const kind of ['deployment', 'instance'] as const) {
      for (const [api, status] of Object.entries(CODEDEPLOY_STATUS_TABLE[kind])) {
        const snake = api.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
        expect([api, snake, api.toLowerCase()].map((raw) => mapCodeDeployStatus(kind, raw))).toEqual([
          status,
          status,
          status,
        ]);
      }
    }
  });

  it('never lets an instance event finish a deployment; Pending implies no status', () => {
    const base = fixture('instance-succeeded.documented.message.json');
    for (const instanceStatus of ['Succeeded', 'FAILED', 'Skipped', 'Ready', 'Unknown', 'IN_PROGRESS']) {
      expect(parse({ ...base, instanceStatus }).status).toBe('in_progress');
    }
    const pending = parse({ ...base, instanceStatus: 'PENDING' });
    expect(pending.status).toBeNull();
    expect(pending.sourceStatus).toBe('PENDING');
  });

  it('does not resolve prototype names as statuses', () => {
    expect(mapCodeDeployStatus('deployment', 'constructor')).toBeUndefined();
    expect(mapCodeDeployStatus('instance', '__proto__')).toBeUndefined();
  });
});

describe('timestamps', () => {
  it.each([
    ['Thu Oct 13 15:50:45 UTC 2022', '2022-10-13T15:50:45.000Z'],
    ['Thu Oct 13 15:50:45 GMT 2022', '2022-10-13T15:50:45.000Z'],
    ['Thu Oct 13 08:50:45 PDT 2022', '2022-10-13T15:50:45.000Z'],
    ['Thu Oct 13 17:50:45 CEST 2022', '2022-10-13T15:50:45.000Z'],
    ['Thu Oct 13 21:20:45 GMT+05:30 2022', '2022-10-13T15:50:45.000Z'],
    ['Sat Jan  7 03:04:05 UTC 2023', '2023-01-07T03:04:05.000Z'],
    ['1446744188.595', '2015-11-05T17:23:08.595Z'],
    ['1446744188', '2015-11-05T17:23:08.000Z'],
    ['1446744188.5', '2015-11-05T17:23:08.500Z'],
    ['2022-10-13T15:50:45Z', '2022-10-13T15:50:45.000Z'],
  ])('parses %s as %s', (text, iso) => {
    expect(parseCodeDeployTime(text)).toEqual({ iso });
  });

  it('parses epoch seconds given as a number', () => {
    expect(parseCodeDeployTime(1446744188.595)).toEqual({ iso: '2015-11-05T17:23:08.595Z' });
  });

  it.each([
    ['yesterday', 'is not a time CodeDeploy sends'],
    ['Thu Oct 13 15:50:45 XYZ 2022', 'unknown time zone "XYZ"'],
    ['Thu Feb 30 15:50:45 UTC 2022', 'not a real date'],
    ['Thu Oct 13 25:50:45 UTC 2022', 'not a real date'],
    ['Thu Foo 13 15:50:45 UTC 2022', 'unknown month'],
    ['Thu Oct 13 15:50:45 PST+01:00 2022', 'unknown time zone'],
    ['-1', 'is not a time CodeDeploy sends'],
  ])('rejects %s clearly', (text, message) => {
    const result = parseCodeDeployTime(text);
    expect(result).toHaveProperty('error', expect.stringContaining(message));
  });

  it('reports a garbage timestamp in a message under its field path', () => {
    const error = invalid({ ...fixture('deployment-succeeded.real.message.json'), completeTime: 'soon' });

    expect(error.issues).toEqual([{ path: 'completeTime', message: expect.stringContaining('"soon"') }]);
  });

  it('treats null or absent completeTime as not finished, and falls back to receivedAt without times', () => {
    const { createTime: _c, completeTime: _t, ...untimed } = fixture('deployment-created.real.message.json');
    const event = parse(untimed);

    expect(event.finishedAt).toBeUndefined();
    expect(event.startedAt).toBeUndefined();
    expect(event.occurredAt).toBe(receivedAt);
  });
});

describe('duplicate detection', () => {
  const succeeded = fixture('deployment-succeeded.real.message.json');

  it('gives the same eventId when two triggers on one topic send the same event', () => {
    const a = parse({ ...succeeded, eventTriggerName: 'all-events' });
    const b = parseCodeDeployMessage(
      { ...succeeded, eventTriggerName: 'failures-and-successes' },
      { receivedAt: '2024-05-01T12:00:09.000Z', where: 'another delivery' },
    );

    expect(a.eventId).toBe(b.eventId);
    expect(a.details?.triggerName).not.toBe(b.details?.triggerName);
  });

  it('gives the same eventId whatever the status spelling or timestamp format', () => {
    const a = parse(succeeded);
    const b = parse({
      ...succeeded,
      status: 'Succeeded',
      createTime: String(Date.parse('2022-10-13T15:50:45Z') / 1000),
      completeTime: 'Thu Oct 13 16:57:02 BST 2022',
    });

    expect(b.eventId).toBe(a.eventId);
  });

  it('gives a different eventId for a different status of the same deployment', () => {
    expect(parse({ ...succeeded, status: 'FAILED' }).eventId).not.toBe(parse(succeeded).eventId);
  });

  it('keeps deployments of different accounts apart', () => {
    const other = parse({ ...succeeded, accountId: '999999999999' });

    expect(other.deploymentId).not.toBe(parse(succeeded).deploymentId);
    expect(other.eventId).not.toBe(parse(succeeded).eventId);
  });

  it('tells instance events apart by instance and status', () => {
    const base = fixture('instance-succeeded.documented.message.json');
    const a = parse(base);

    expect(parse({ ...base, eventTriggerName: 'x' }).eventId).toBe(a.eventId);
    expect(parse({ ...base, instanceId: 'i-other' }).eventId).not.toBe(a.eventId);
    expect(parse({ ...base, instanceStatus: 'Failed' }).eventId).not.toBe(a.eventId);
  });
});

describe('field variants', () => {
  const created = fixture('deployment-created.real.message.json');

  it('accepts deploymentOverview, errorInformation and rollbackInformation as objects or JSON strings', () => {
    const asStrings = parse({
      ...created,
      status: 'FAILED',
      deploymentOverview: '{"Failed":2,"Ready":1}',
      errorInformation: '{"ErrorCode":"TIMEOUT","ErrorMessage":"took too long"}',
      rollbackInformation: '{"RollbackTriggeringDeploymentId":"d-PREVIOUS1"}',
    });
    const asObjects = parse({
      ...created,
      status: 'FAILED',
      deploymentOverview: { Failed: '2', Ready: 1 },
      errorInformation: { ErrorCode: 'TIMEOUT', ErrorMessage: 'took too long' },
      rollbackInformation: { RollbackTriggeringDeploymentId: 'd-PREVIOUS1' },
    });

    expect(asObjects).toEqual(asStrings);
    expect(asStrings.counts).toEqual({ failed: 2, ready: 1 });
    expect(asStrings.error).toEqual({ code: 'TIMEOUT', message: 'took too long' });
    expect(asStrings.rollbackOfSourceId).toBe('123456789012:eu-west-2:d-PREVIOUS1');
  });

  it('treats "{}", "", null and absent nested fields as none', () => {
    for (const value of ['{}', '', null, undefined, {}]) {
      const event = parse({
        ...created,
        errorInformation: value,
        rollbackInformation: value,
        deploymentOverview: value,
      });
      expect(event.error).toBeUndefined();
      expect(event.rollbackOfSourceId).toBeUndefined();
      expect(event.counts).toBeUndefined();
    }
  });

  it('keeps unknown extra fields out of the way', () => {
    const event = parse({
      ...created,
      someNewAwsField: { nested: true },
      deploymentOverview: '{"Succeeded":1,"New":9}',
    });

    expect(event.status).toBe('queued');
    expect(event.counts).toMatchObject({ succeeded: 1 });
  });

  it('describes the error code only when CodeDeploy gave no message', () => {
    const event = parse({ ...created, status: 'STOPPED', errorInformation: '{"ErrorCode":"MANUAL_STOP"}' });

    expect(event.error).toEqual({ code: 'MANUAL_STOP', message: describeCodeDeployError('MANUAL_STOP') });
  });
});

describe('bad input', () => {
  const created = fixture('deployment-created.real.message.json');

  it('rejects a message that is not JSON', () => {
    const error = invalid('{"region": "eu-west-2"');

    expect(error.where).toBe('SNS message');
    expect(error.issues).toEqual([{ path: '', message: expect.stringContaining('not JSON') }]);
  });

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"hello"'],
  ])('rejects JSON that is %s', (_what, text) => {
    expect(invalid(text).issues.map((i) => i.path)).toEqual(['']);
  });

  it('rejects a message without deploymentId, naming the field', () => {
    const { deploymentId: _d, ...rest } = created;

    expect(invalid(rest).issues).toEqual([{ path: 'deploymentId', message: 'is required' }]);
  });

  it('rejects an unknown status, naming the field and the known ones', () => {
    const error = invalid({ ...created, status: 'EXPLODED' });

    expect(error.issues).toEqual([{ path: 'status', message: expect.stringContaining('"EXPLODED"') }]);
    expect(error.issues[0]!.message).toContain('InProgress');
  });

  it('rejects an unknown instance status under instanceStatus', () => {
    const error = invalid({
      ...fixture('instance-succeeded.documented.message.json'),
      instanceStatus: 'Melted',
    });

    expect(error.issues.map((i) => i.path)).toEqual(['instanceStatus']);
  });

  it('rejects a malformed deploymentOverview string under deploymentOverview', () => {
    const error = invalid({ ...created, deploymentOverview: '{"Succeeded":1,' });

    expect(error.issues).toEqual([
      { path: 'deploymentOverview', message: expect.stringContaining('not valid JSON') },
    ]);
  });

  it('rejects a count that is not a whole number with its nested path', () => {
    const error = invalid({ ...created, deploymentOverview: '{"Succeeded":"lots","Failed":-1}' });

    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'deploymentOverview.Failed',
      'deploymentOverview.Succeeded',
    ]);
  });

  it('reports every problem at once', () => {
    const error = invalid({ status: 'Nope', createTime: 'never', errorInformation: '{oops' });

    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'accountId',
      'applicationName',
      'createTime',
      'deploymentGroupName',
      'deploymentId',
      'errorInformation',
      'region',
      'status',
    ]);
  });

  it('never throws anything but InvalidInputError, whatever the input', () => {
    // A small deterministic fuzzer: random JSON values, and fixtures with fields replaced by them.
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const values = (depth: number): unknown => {
      const pick = Math.floor(random() * 10);
      if (depth > 2 && pick > 6) return null;
      switch (pick) {
        case 0:
          return null;
        case 1:
          return random() > 0.5;
        case 2:
          return Math.floor(random() * 2e10) / (random() > 0.5 ? 1 : 1000);
        case 3:
          return ['', '{}', '[]', '{bad', 'Thu Oct 13 15:50:45 UTC 2022', 'SUCCEEDED', '1e400', '__proto__'][
            Math.floor(random() * 8)
          ];
        case 4:
          return [values(depth + 1), values(depth + 1)];
        case 5:
          return { Succeeded: values(depth + 1), ErrorCode: values(depth + 1) };
        case 6:
          return JSON.stringify(values(depth + 1));
        case 7:
          return Number.NaN;
        default:
          return String(random());
      }
    };
    const bases = readdirSync(FIXTURES)
      .filter((name) => name.endsWith('.message.json'))
      .map(fixture);
    for (let i = 0; i < 3000; i++) {
      const base = bases[i % bases.length]!;
      const keys = [...Object.keys(base), 'instanceId', 'constructor', '__proto__'];
      const mutated: Record<string, unknown> = { ...base };
      mutated[keys[Math.floor(random() * keys.length)]!] = values(0);
      const inputs = [mutated, JSON.stringify(mutated), values(0), String(values(0))];
      for (const input of inputs) {
        try {
          parse(input);
        } catch (error) {
          if (!(error instanceof InvalidInputError))
            throw new Error(`threw ${String(error)} for ${String(input)}`);
        }
      }
    }
  });
});

describe('describeCodeDeployError', () => {
  const REFERENCE_CODES = [
    'DEPLOYMENT_GROUP_MISSING',
    'APPLICATION_MISSING',
    'REVISION_MISSING',
    'IAM_ROLE_MISSING',
    'IAM_ROLE_PERMISSIONS',
    'NO_EC2_SUBSCRIPTION',
    'OVER_MAX_INSTANCES',
    'NO_INSTANCES',
    'TIMEOUT',
    'HEALTH_CONSTRAINTS_INVALID',
    'HEALTH_CONSTRAINTS',
    'INTERNAL_ERROR',
    'THROTTLED',
    'ALARM_ACTIVE',
    'AGENT_ISSUE',
    'AUTO_SCALING_IAM_ROLE_PERMISSIONS',
    'AUTO_SCALING_CONFIGURATION',
    'MANUAL_STOP',
    'ECS_UPDATE_ERROR',
  ];

  it('has its own sentence for every documented error code', () => {
    for (const code of REFERENCE_CODES) {
      expect(CODEDEPLOY_ERROR_DESCRIPTIONS[code], code).toBeDefined();
      expect(describeCodeDeployError(code)).toMatch(/^[A-Z].*\.$/);
    }
    expect(new Set(REFERENCE_CODES.map(describeCodeDeployError)).size).toBe(REFERENCE_CODES.length);
  });

  it('falls back to a generic sentence naming an unknown code', () => {
    expect(describeCodeDeployError('BRAND_NEW_CODE')).toBe(
      'The deployment failed with CodeDeploy error BRAND_NEW_CODE.',
    );
    expect(describeCodeDeployError('toString')).toContain('toString');
    expect(describeCodeDeployError('')).toBe('The deployment failed.');
  });
});
