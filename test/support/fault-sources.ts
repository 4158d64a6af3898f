/**
 * Deployment events as their sources send them, for the fault tests: CodeDeploy trigger messages in SNS→SQS
 * bodies (and SQS-shaped records around them), native `POST /v1/events` bodies, and a seeded replay
 * workload mixing both with duplicates.
 */
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { type ModelStatus, prng, shuffle } from './fault-kit.ts';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-2';
const BASE_TIME = Date.UTC(2026, 2, 1, 9, 0, 0);

/** A CodeDeploy deployment status as the trigger sends it, and what it means (the model's own table). */
export const CODEDEPLOY_DEPLOYMENT_STATUSES: Record<string, ModelStatus> = {
  CREATED: 'queued',
  QUEUED: 'queued',
  IN_PROGRESS: 'in_progress',
  READY: 'in_progress',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  STOPPED: 'stopped',
};
/** Instance statuses: Pending implies nothing; any other only says the deployment is running. */
export const CODEDEPLOY_INSTANCE_STATUSES: Record<string, ModelStatus | null> = {
  Pending: null,
  InProgress: 'in_progress',
  Succeeded: 'in_progress',
  Failed: 'in_progress',
  Skipped: 'in_progress',
};
/** Native status words and what they mean. */
export const NATIVE_STATUSES: Record<string, ModelStatus> = {
  queued: 'queued',
  pending: 'queued',
  in_progress: 'in_progress',
  started: 'in_progress',
  running: 'in_progress',
  succeeded: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  error: 'failed',
  stopped: 'stopped',
  cancelled: 'stopped',
};

/** Java `Date.toString()` text, as real CodeDeploy messages carry times. */
function javaDate(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/** The SNS→SQS body of a CodeDeploy deployment trigger message (the real shape: Java dates, JSON-in-strings). */
export function codeDeployDeploymentBody(options: {
  codeDeployId: string;
  status: string;
  application: string;
  group: string;
  createdMs: number;
  completedMs?: number;
}): string {
  const message = {
    region: REGION,
    accountId: ACCOUNT,
    eventTriggerName: 'shipcast-all-events',
    applicationName: options.application,
    deploymentId: options.codeDeployId,
    deploymentGroupName: options.group,
    createTime: javaDate(options.createdMs),
    completeTime: options.completedMs === undefined ? null : javaDate(options.completedMs),
    deploymentOverview: JSON.stringify({ Succeeded: 1, Failed: 0, Skipped: 0, InProgress: 0, Pending: 0 }),
    status: options.status,
    rollbackInformation: '{}',
  };
  return snsEnvelope(message, `${options.status}: AWS CodeDeploy ${options.codeDeployId}`);
}

/** The SNS→SQS body of a CodeDeploy instance trigger message. */
export function codeDeployInstanceBody(options: {
  codeDeployId: string;
  instance: string;
  status: string;
  updatedMs: number;
}): string {
  const message = {
    region: REGION,
    accountId: ACCOUNT,
    eventTriggerName: 'shipcast-all-events',
    deploymentId: options.codeDeployId,
    instanceId: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${options.instance}`,
    lastUpdatedAt: String(options.updatedMs / 1000),
    instanceStatus: options.status,
    lifecycleEvents: [],
  };
  return snsEnvelope(message, `${options.status}: AWS CodeDeploy ${options.codeDeployId} instance`);
}

let envelopes = 0;
function snsEnvelope(message: object, subject: string): string {
  envelopes++;
  return JSON.stringify({
    Type: 'Notification',
    MessageId: `00000000-0000-4000-8000-${String(envelopes).padStart(12, '0')}`,
    TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:shipcast-codedeploy`,
    Subject: subject,
    Message: JSON.stringify(message),
    Timestamp: '2026-03-01T10:00:00.000Z',
    SignatureVersion: '1',
    Signature: 'EXAMPLE',
    SigningCertURL: `https://sns.${REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem`,
    UnsubscribeURL: `https://sns.${REGION}.amazonaws.com/?Action=Unsubscribe`,
  });
}

/** Shipcast's id of a CodeDeploy deployment (source id `<account>:<region>:<id>`). */
export const codeDeployDeploymentId = (codeDeployId: string): string =>
  deploymentIdFor('codedeploy', `${ACCOUNT}:${REGION}:${codeDeployId}`);
/** Shipcast's id of a native deployment sent with `deploymentId` (source id `<service>/<deploymentId>`). */
export const nativeDeploymentId = (service: string, id: string): string =>
  deploymentIdFor('native', `${service}/${id}`);

/** An SQS record as Lambda hands it to the ingest or dispatch function. */
export function sqsRecord(messageId: string, body: string, receiveCount = 1): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}-${receiveCount}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(BASE_TIME),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(BASE_TIME + 100),
    },
    messageAttributes: {},
    md5OfBody: '00000000000000000000000000000000',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:shipcast-ingest`,
    awsRegion: REGION,
  };
}

export const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });

/** One delivery of an event to Shipcast, as the replay sends it. */
export interface ReplayEvent {
  /** Shipcast's deployment id. */
  deploymentId: string;
  /** Which delivery of which event: copies (duplicates) share `uid`. */
  uid: string;
  duplicate: boolean;
  /** What the event means to the model (null: no status). */
  status: ModelStatus | null;
  route: { source: 'codedeploy' | 'native'; service: string };
  transport: { kind: 'sqs'; body: string } | { kind: 'http'; body: string; idempotencyKey?: string };
}

/** The workload of the replay test. */
export interface ReplayWorkload {
  /** Every delivery in the seeded, shuffled arrival order. */
  events: ReplayEvent[];
  deployments: string[];
  unique: number;
  duplicates: number;
  bySource: Record<string, number>;
}

interface Story {
  deploymentId: string;
  source: 'codedeploy' | 'native';
  service: string;
  /** Each unique event: its status and how to build its transport. */
  events: Omit<ReplayEvent, 'duplicate'>[];
}

/**
 * `total` deliveries over `deployments` deployments, `duplicateRate` of them copies of an earlier delivery,
 * shuffled with `seed`. Half the deployments come from CodeDeploy (deployment and instance messages through
 * SQS), half from the native API (each request with an Idempotency-Key or not, at random). Some deployments
 * never finish, some start without a queued event, and some get two different terminal statuses.
 */
export function replayWorkload(options: {
  total: number;
  deployments: number;
  duplicateRate: number;
  seed: number;
}): ReplayWorkload {
  const random = prng(options.seed);
  const stories: Story[] = [];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  for (let i = 0; i < options.deployments; i++) {
    const source = i % 2 === 0 ? 'codedeploy' : 'native';
    const service = `svc-${i % 25}`;
    const createdMs = BASE_TIME + i * 60_000;
    const terminals = pickTerminals(random);
    const withQueued = random() < 0.85;
    if (source === 'codedeploy') {
      const codeDeployId = `d-R${String(i).padStart(8, '0')}`;
      const deploymentId = codeDeployDeploymentId(codeDeployId);
      const story: Story = { deploymentId, source, service, events: [] };
      const add = (status: string, completed?: number) =>
        story.events.push({
          deploymentId,
          uid: `${codeDeployId}/${status}`,
          status: CODEDEPLOY_DEPLOYMENT_STATUSES[status] as ModelStatus,
          route: { source, service },
          transport: {
            kind: 'sqs',
            body: codeDeployDeploymentBody({
              codeDeployId,
              status,
              application: service,
              group: `${service}-production`,
              createdMs,
              completedMs: completed,
            }),
          },
        });
      if (withQueued) add('CREATED');
      add('IN_PROGRESS');
      for (const [n, t] of terminals.entries()) add(t.toUpperCase(), createdMs + 300_000 + n * 1000);
      stories.push(story);
    } else {
      const id = `rel-${i}`;
      const deploymentId = nativeDeploymentId(service, id);
      const story: Story = { deploymentId, source, service, events: [] };
      const words = (status: ModelStatus) =>
        Object.entries(NATIVE_STATUSES)
          .filter(([, s]) => s === status)
          .map(([w]) => w);
      const add = (status: ModelStatus) => {
        const n = story.events.length;
        const body = JSON.stringify({
          service,
          environment: i % 3 === 0 ? 'staging' : 'production',
          deploymentId: id,
          status: pick(words(status)),
          version: `1.${i}.0`,
          commit: `c${i.toString(16).padStart(7, '0')}`,
        });
        story.events.push({
          deploymentId,
          uid: `${id}/${n}`,
          status,
          route: { source, service },
          transport: {
            kind: 'http',
            body,
            ...(random() < 0.5 ? { idempotencyKey: `replay-${id}-${n}` } : {}),
          },
        });
      };
      if (withQueued) add('queued');
      add('in_progress');
      for (const t of terminals) add(t);
      stories.push(story);
    }
  }

  // Fill up to the unique count with events that change nothing or little: CodeDeploy instance messages,
  // repeated native `running` (or a late `queued`).
  const unique = Math.round(options.total * (1 - options.duplicateRate));
  let filled = stories.reduce((n, s) => n + s.events.length, 0);
  if (filled > unique)
    throw new Error(`${unique} unique events are too few for ${options.deployments} deployments`);
  let fillers = 0;
  while (filled < unique) {
    const story = pick(stories);
    const n = story.events.length;
    if (story.source === 'codedeploy') {
      const codeDeployId = story.deploymentId;
      const instanceStatus = pick(Object.keys(CODEDEPLOY_INSTANCE_STATUSES));
      const instance = `i-${String(fillers).padStart(8, '0')}`;
      const cdId = (story.events[0]?.uid ?? '').split('/')[0] as string;
      story.events.push({
        deploymentId: story.deploymentId,
        uid: `${codeDeployId}/instance/${instance}`,
        status: CODEDEPLOY_INSTANCE_STATUSES[instanceStatus] ?? null,
        route: { source: story.source, service: story.service },
        transport: {
          kind: 'sqs',
          body: codeDeployInstanceBody({
            codeDeployId: cdId,
            instance,
            status: instanceStatus,
            updatedMs: BASE_TIME + fillers * 1000,
          }),
        },
      });
    } else {
      const template = story.events[0] as Omit<ReplayEvent, 'duplicate'>;
      const base = JSON.parse((template.transport as { body: string }).body) as Record<string, string>;
      const status: ModelStatus = random() < 0.8 ? 'in_progress' : 'queued';
      const body = JSON.stringify({ ...base, status: status === 'queued' ? 'pending' : 'running' });
      const id = base.deploymentId as string;
      story.events.push({
        deploymentId: story.deploymentId,
        uid: `${id}/${n}`,
        status,
        route: { source: story.source, service: story.service },
        transport: { kind: 'http', body, ...(random() < 0.5 ? { idempotencyKey: `replay-${id}-${n}` } : {}) },
      });
    }
    fillers++;
    filled++;
  }

  const originals: ReplayEvent[] = stories.flatMap((s) => s.events.map((e) => ({ ...e, duplicate: false })));
  const duplicates = options.total - originals.length;
  const copies: ReplayEvent[] = [];
  for (let i = 0; i < duplicates; i++) copies.push({ ...pick(originals), duplicate: true });
  const events = shuffle([...originals, ...copies], random);
  const bySource: Record<string, number> = {};
  for (const e of events) {
    const label =
      e.transport.kind === 'sqs'
        ? 'codedeploy-sqs'
        : e.transport.idempotencyKey
          ? 'native-http-keyed'
          : 'native-http-unkeyed';
    bySource[label] = (bySource[label] ?? 0) + 1;
  }
  return {
    events,
    deployments: stories.map((s) => s.deploymentId),
    unique: originals.length,
    duplicates,
    bySource,
  };
}

/** The terminal statuses a deployment will be sent: mostly one, sometimes none, sometimes two that disagree. */
function pickTerminals(random: () => number): ModelStatus[] {
  const roll = random();
  if (roll < 0.05) return [];
  if (roll < 0.12) return random() < 0.5 ? ['failed', 'stopped'] : ['succeeded', 'failed'];
  const one = random();
  return [one < 0.8 ? 'succeeded' : one < 0.95 ? 'failed' : 'stopped'];
}
