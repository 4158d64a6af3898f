import { assertSafeJson } from '../api/json.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { lazy } from '../lazy.ts';
import type { DeploymentEvent, InstanceCounts } from '../schema.ts';
import type { Status } from '../status.ts';
import * as z from '../zod-mini.ts';

/**
 * Parses the `Message` of a CodeDeploy trigger notification (after SNS unwrapping, see `sns.ts`).
 *
 * Two shapes reach us (see test/fixtures/codedeploy/README.md): the documented one (epoch-second
 * strings, nested objects of string counts, `Failed`) and the one real deliveries use (Java
 * `Date.toString()` text, nested objects JSON-encoded *as strings*, `FAILED`). Both are accepted.
 */

/** Registry name of this source. */
export const CODEDEPLOY_SOURCE = 'codedeploy';

/**
 * CodeDeploy statuses → Shipcast statuses, keyed by the API spelling. Lookups ignore case and `_`
 * (`IN_PROGRESS`, `InProgress` and `inprogress` are one status). An instance event never finishes a
 * deployment: whatever the instance did, it only says the deployment is running (Pending: not even that).
 */
export const CODEDEPLOY_STATUS_TABLE = {
  deployment: {
    Created: 'queued',
    Queued: 'queued',
    InProgress: 'in_progress',
    Baking: 'in_progress',
    Ready: 'in_progress',
    Succeeded: 'succeeded',
    Failed: 'failed',
    Stopped: 'stopped',
  },
  instance: {
    Pending: null,
    InProgress: 'in_progress',
    Succeeded: 'in_progress',
    Failed: 'in_progress',
    Skipped: 'in_progress',
    Ready: 'in_progress',
    Unknown: 'in_progress',
  },
} as const satisfies Record<'deployment' | 'instance', Record<string, Status | null>>;

/** The comparison key of a CodeDeploy status: lower case, without `_`. */
export function normalizeCodeDeployStatus(raw: string): string {
  return raw.replace(/_/g, '').toLowerCase();
}

// Built on first use: a bundle that takes only CODEDEPLOY_SOURCE from this module (the API) drops the rest.
const statusLookup = /* @__PURE__ */ lazy(() => ({
  deployment: new Map<string, Status | null>(
    Object.entries(CODEDEPLOY_STATUS_TABLE.deployment).map(([k, v]) => [normalizeCodeDeployStatus(k), v]),
  ),
  instance: new Map<string, Status | null>(
    Object.entries(CODEDEPLOY_STATUS_TABLE.instance).map(([k, v]) => [normalizeCodeDeployStatus(k), v]),
  ),
}));

/** Maps a CodeDeploy status to Shipcast's: a Status, null (implies none), or undefined (unknown status). */
export function mapCodeDeployStatus(kind: 'deployment' | 'instance', raw: string): Status | null | undefined {
  return statusLookup()[kind].get(normalizeCodeDeployStatus(raw));
}

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

/**
 * Offsets (minutes east of UTC) of the zone abbreviations Java's `Date.toString()` prints.
 * Ambiguous abbreviations (IST, BST-as-Bangladesh, CST-as-China, …) take their most common
 * (North American / European) meaning, as Java does for `America/*` and `Europe/*` zones.
 */
const ZONES: Record<string, number> = {
  UTC: 0,
  UT: 0,
  GMT: 0,
  Z: 0,
  WET: 0,
  WEST: 60,
  BST: 60,
  IST: 60,
  CET: 60,
  CEST: 120,
  MET: 60,
  MEST: 120,
  EET: 120,
  EEST: 180,
  MSK: 180,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  AKST: -540,
  AKDT: -480,
  HST: -600,
  JST: 540,
  KST: 540,
  SGT: 480,
  HKT: 480,
  AEST: 600,
  AEDT: 660,
  ACST: 570,
  ACDT: 630,
  AWST: 480,
  NZST: 720,
  NZDT: 780,
};

// `Thu Oct 13 15:50:45 UTC 2022`; the zone may also be `GMT+05:30` / `UTC-0800` (custom zones).
const JAVA_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+([A-Za-z]{1,5})(?:([+-])(\d{1,2}):?(\d{2})?)?\s+(\d{4})$/i;
const EPOCH_SECONDS = /^(\d{1,11})(?:\.(\d+))?$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parses a CodeDeploy trigger timestamp to ISO 8601: Java date text (`Thu Oct 13 15:50:45 UTC 2022`),
 * epoch seconds (`"1446744188.595"` or a number) or ISO 8601. Returns an error message for anything else.
 */
export function parseCodeDeployTime(value: string | number): { iso: string } | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { error: `${value} is not a valid epoch-seconds time` };
    return fromMillis(Math.round(value * 1000), String(value));
  }
  const text = value.trim();
  const epoch = EPOCH_SECONDS.exec(text);
  if (epoch) {
    // From the digits rather than parseFloat, so `.595` stays exactly 595 ms.
    const millis = Number(epoch[1]) * 1000 + Number((epoch[2] ?? '').padEnd(3, '0').slice(0, 3));
    return fromMillis(millis, value);
  }
  const java = JAVA_DATE.exec(text);
  if (java) {
    const [, mon, day, hh, mm, ss, zone, sign, offH, offM, year] = java;
    const month = MONTHS[mon!.toLowerCase()];
    if (month === undefined) return { error: `"${value}" has an unknown month "${mon}"` };
    const zoneName = zone!.toUpperCase();
    let offset = ZONES[zoneName];
    if (offset === undefined) return { error: `"${value}" has an unknown time zone "${zone}"` };
    if (sign) {
      if (zoneName !== 'GMT' && zoneName !== 'UTC') return { error: `"${value}" has an unknown time zone` };
      offset = (sign === '-' ? -1 : 1) * (Number(offH) * 60 + Number(offM ?? '0'));
    }
    const parts = [Number(year), month, Number(day), Number(hh), Number(mm), Number(ss)] as const;
    const local = Date.UTC(...parts);
    const check = new Date(local);
    // Date.UTC rolls over (Feb 30 → Mar 2); a real date round-trips.
    if (
      check.getUTCMonth() !== month ||
      check.getUTCDate() !== parts[2] ||
      check.getUTCHours() !== parts[3] ||
      check.getUTCMinutes() !== parts[4] ||
      check.getUTCSeconds() !== parts[5]
    ) {
      return { error: `"${value}" is not a real date and time` };
    }
    return fromMillis(local - offset * 60_000, value);
  }
  if (ISO_8601.test(text)) {
    const millis = Date.parse(text);
    if (!Number.isNaN(millis)) return fromMillis(millis, value);
  }
  return {
    error: `"${value}" is not a time CodeDeploy sends (expected e.g. "Thu Oct 13 15:50:45 UTC 2022" or epoch seconds "1446744188.595")`,
  };
}

function fromMillis(millis: number, original: string): { iso: string } | { error: string } {
  const date = new Date(millis);
  if (Number.isNaN(date.getTime())) return { error: `"${original}" is out of range` };
  return { iso: date.toISOString() };
}

/** A timestamp field: null, absent and "" mean "not yet" (CodeDeploy sends `completeTime: null`). */
const timestamp = () =>
  z.pipe(
    z.nullish(z.union([z.string(), z.number()], { error: 'expected a time as text or epoch seconds' })),
    z.transform((value, ctx) => {
      if (value === null || value === undefined || value === '') return undefined;
      const parsed = parseCodeDeployTime(value);
      if ('error' in parsed) {
        ctx.issues.push({ code: 'custom', message: parsed.error, input: value });
        return z.NEVER;
      }
      return parsed.iso;
    }),
  );

/**
 * Real deliveries carry nested objects as JSON *strings* (`"deploymentOverview":"{\"Succeeded\":1}"`),
 * the documentation shows plain objects; both are accepted. null, "" and absent mean "none".
 */
function jsonEncoded<T extends z.ZodMiniType>(schema: T) {
  return z.pipe(
    z.pipe(
      z.transform((value: unknown, ctx) => {
        if (typeof value !== 'string') return value;
        if (value.trim() === '') return undefined;
        try {
          return JSON.parse(value);
        } catch (error) {
          ctx.issues.push({
            code: 'custom',
            message: `is a string but not valid JSON (${(error as Error).message})`,
            input: value,
          });
          return z.NEVER;
        }
      }),
      z.nullish(schema),
    ),
    z.transform((value: z.output<T> | null | undefined) => value ?? undefined),
  );
}

/** A count: a non-negative integer, sent as a number (real) or a numeric string (documented). */
const count = () =>
  z.pipe(
    z.union(
      [
        z.number().check(z.int(), z.nonnegative()),
        z.string().check(z.regex(/^\s*\d+\s*$/, 'expected a whole number')),
      ],
      { error: 'expected a whole number' },
    ),
    z.transform((value) => Number(value)),
  );

const overviewSchema = () =>
  z.looseObject({
    Pending: z.optional(count()),
    InProgress: z.optional(count()),
    Succeeded: z.optional(count()),
    Failed: z.optional(count()),
    Skipped: z.optional(count()),
    Ready: z.optional(count()),
  });

const errorInformationSchema = () =>
  z.looseObject({
    ErrorCode: z.nullish(z.string()),
    ErrorMessage: z.nullish(z.string()),
  });

const rollbackInformationSchema = () =>
  z.looseObject({
    RollbackMessage: z.nullish(z.string()),
    RollbackTriggeringDeploymentId: z.nullish(z.string()),
    RollbackDeploymentId: z.nullish(z.string()),
  });

function statusField(kind: 'deployment' | 'instance') {
  return text().check(
    z.superRefine((value, ctx) => {
      if (mapCodeDeployStatus(kind, value) === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown CodeDeploy ${kind} status "${value}"; expected one of ${Object.keys(CODEDEPLOY_STATUS_TABLE[kind]).join(', ')} (any case, _ ignored)`,
        });
      }
    }),
  );
}

/** A required, non-empty string whose issue says "is required" when it is missing. */
function text() {
  return z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'expected a string') })
    .check(z.minLength(1, { error: 'must not be empty', abort: true }));
}

const common = () => ({
  region: text(),
  accountId: text(),
  deploymentId: text(),
  eventTriggerName: z.nullish(z.string()),
  applicationName: z.nullish(text()),
  deploymentGroupName: z.nullish(text()),
});

// Unknown extra fields are kept out of the way, not rejected: AWS adds fields over time.
const deploymentMessageSchema = /* @__PURE__ */ lazy(() =>
  z.looseObject({
    ...common(),
    applicationName: text(),
    deploymentGroupName: text(),
    status: statusField('deployment'),
    createTime: timestamp(),
    completeTime: timestamp(),
    deploymentOverview: jsonEncoded(overviewSchema()),
    errorInformation: jsonEncoded(errorInformationSchema()),
    rollbackInformation: jsonEncoded(rollbackInformationSchema()),
  }),
);

const instanceMessageSchema = /* @__PURE__ */ lazy(() =>
  z.looseObject({
    ...common(),
    instanceId: text(),
    instanceStatus: statusField('instance'),
    lastUpdatedAt: timestamp(),
    lifecycleEvents: jsonEncoded(z.array(z.unknown())),
  }),
);

/** What the parser needs besides the message. */
export interface CodeDeployParseContext {
  /** When Shipcast received the message (ISO 8601). */
  receivedAt: string;
  /** Where the message came from, for errors (`Records[0].Sns.Message`, `SQS message 1234`). */
  where: string;
}

/** `${accountId}:${region}:${deploymentId}`: a CodeDeploy id is only unique within an account and region. */
export function codeDeploySourceId(accountId: string, region: string, codeDeployId: string): string {
  return `${accountId}:${region}:${codeDeployId}`;
}

/**
 * Parses a CodeDeploy trigger message (the SNS `Message`, as a string or already decoded) into a
 * DeploymentEvent. Deployment messages carry `status`; instance messages `instanceId`/`instanceStatus`.
 * Throws only InvalidInputError, whose issues name each bad field's path.
 */
export function parseCodeDeployMessage(message: unknown, context: CodeDeployParseContext): DeploymentEvent {
  const { where } = context;
  let input: unknown = message;
  if (typeof message === 'string') {
    try {
      input = JSON.parse(message);
    } catch (error) {
      throw new InvalidInputError(where, [
        {
          path: '',
          message: `not JSON (${(error as Error).message}); expected a CodeDeploy trigger message`,
        },
      ]);
    }
  }
  // Untrusted like any JSON body: no deep nesting, no prototype keys, Unicode text only.
  assertSafeJson(input, where);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidInputError(where, [
      { path: '', message: `expected a CodeDeploy trigger message object, got ${describeType(input)}` },
    ]);
  }
  try {
    // eventTriggerName is the user's label for the trigger, not the event: branch on the fields.
    return 'instanceStatus' in input || 'instanceId' in input
      ? instanceEvent(input, context)
      : deploymentEvent(input, context);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    // Not expected; the contract is that bad input never escapes as anything but InvalidInputError.
    throw new InvalidInputError(where, [{ path: '', message: `could not be parsed: ${String(error)}` }]);
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function parseWith<T extends z.ZodMiniType>(schema: T, input: unknown, where: string): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidInputError(where, issuesFromZod(result.error));
  return result.data;
}

function deploymentEvent(input: object, context: CodeDeployParseContext): DeploymentEvent {
  const m = parseWith(deploymentMessageSchema(), input, context.where);
  const sourceDeploymentId = codeDeploySourceId(m.accountId, m.region, m.deploymentId);
  const status = mapCodeDeployStatus('deployment', m.status) as Status;
  const event: DeploymentEvent = {
    eventId: eventIdFor(
      CODEDEPLOY_SOURCE,
      'deployment',
      sourceDeploymentId,
      normalizeCodeDeployStatus(m.status),
      '',
      '',
      m.createTime ?? '',
      m.completeTime ?? '',
    ),
    source: CODEDEPLOY_SOURCE,
    sourceDeploymentId,
    deploymentId: deploymentIdFor(CODEDEPLOY_SOURCE, sourceDeploymentId),
    kind: 'deployment',
    status,
    sourceStatus: m.status,
    occurredAt: m.completeTime ?? m.createTime ?? context.receivedAt,
    receivedAt: context.receivedAt,
    service: m.applicationName,
    environment: m.deploymentGroupName,
    account: m.accountId,
    region: m.region,
    details: details(m),
  };
  if (m.createTime) event.startedAt = m.createTime;
  if (m.completeTime) event.finishedAt = m.completeTime;
  const counts = countsFrom(m.deploymentOverview);
  if (counts) event.counts = counts;
  const info = m.errorInformation;
  if (info && (info.ErrorCode || info.ErrorMessage)) {
    event.error = {
      ...(info.ErrorCode ? { code: info.ErrorCode } : {}),
      // CodeDeploy's own words; only when it gave none do we describe the code.
      message: info.ErrorMessage || describeCodeDeployError(info.ErrorCode ?? ''),
    };
  }
  const triggering = m.rollbackInformation?.RollbackTriggeringDeploymentId;
  if (triggering) event.rollbackOfSourceId = codeDeploySourceId(m.accountId, m.region, triggering);
  return event;
}

function instanceEvent(input: object, context: CodeDeployParseContext): DeploymentEvent {
  const m = parseWith(instanceMessageSchema(), input, context.where);
  const sourceDeploymentId = codeDeploySourceId(m.accountId, m.region, m.deploymentId);
  const event: DeploymentEvent = {
    eventId: eventIdFor(
      CODEDEPLOY_SOURCE,
      'instance',
      sourceDeploymentId,
      normalizeCodeDeployStatus(m.instanceStatus),
      m.instanceId,
      m.lastUpdatedAt ?? '',
      '',
      '',
    ),
    source: CODEDEPLOY_SOURCE,
    sourceDeploymentId,
    deploymentId: deploymentIdFor(CODEDEPLOY_SOURCE, sourceDeploymentId),
    kind: 'instance',
    status: mapCodeDeployStatus('instance', m.instanceStatus) ?? null,
    sourceStatus: m.instanceStatus,
    occurredAt: m.lastUpdatedAt ?? context.receivedAt,
    receivedAt: context.receivedAt,
    instance: { id: m.instanceId, status: m.instanceStatus },
    account: m.accountId,
    region: m.region,
    details: details(m),
  };
  // Instance messages normally name no application; the enricher fills these in.
  if (m.applicationName) event.service = m.applicationName;
  if (m.deploymentGroupName) event.environment = m.deploymentGroupName;
  return event;
}

function details(m: {
  region: string;
  accountId: string;
  deploymentId: string;
  eventTriggerName?: string | null;
  applicationName?: string | null;
  deploymentGroupName?: string | null;
}): Record<string, string> {
  const out: Record<string, string> = {};
  if (m.applicationName) out.application = m.applicationName;
  if (m.deploymentGroupName) out.deploymentGroup = m.deploymentGroupName;
  out.region = m.region;
  out.account = m.accountId;
  out.codeDeployId = m.deploymentId;
  if (m.eventTriggerName) out.triggerName = m.eventTriggerName;
  return out;
}

/** CodeDeploy's `deploymentOverview` (API or trigger spelling) as Shipcast counts; undefined if empty. */
export function countsFrom(
  overview:
    | {
        Pending?: number | null;
        InProgress?: number | null;
        Succeeded?: number | null;
        Failed?: number | null;
        Skipped?: number | null;
        Ready?: number | null;
      }
    | null
    | undefined,
): InstanceCounts | undefined {
  if (!overview) return undefined;
  const counts: InstanceCounts = {};
  const pairs: [keyof InstanceCounts, number | null | undefined][] = [
    ['pending', overview.Pending],
    ['inProgress', overview.InProgress],
    ['succeeded', overview.Succeeded],
    ['failed', overview.Failed],
    ['skipped', overview.Skipped],
    ['ready', overview.Ready],
  ];
  for (const [key, value] of pairs) if (typeof value === 'number') counts[key] = value;
  return Object.keys(counts).length > 0 ? counts : undefined;
}

/** Human sentences for CodeDeploy's `errorInformation.code` values (the API's ErrorCode enum). */
export const CODEDEPLOY_ERROR_DESCRIPTIONS: Readonly<Record<string, string>> = {
  AGENT_ISSUE: 'The CodeDeploy agent on one or more instances is not running or not responding.',
  ALARM_ACTIVE:
    'A CloudWatch alarm configured for the deployment group went off, so CodeDeploy stopped the deployment.',
  APPLICATION_MISSING: 'The CodeDeploy application no longer exists.',
  AUTOSCALING_VALIDATION_ERROR: 'The Auto Scaling group failed validation.',
  AUTO_SCALING_CONFIGURATION: "The deployment group's Auto Scaling group or launch configuration is invalid.",
  AUTO_SCALING_IAM_ROLE_PERMISSIONS:
    "CodeDeploy's service role lacks the permissions it needs to work with the Auto Scaling group.",
  CLOUDFORMATION_STACK_FAILURE: 'The CloudFormation stack behind the deployment failed.',
  CODEDEPLOY_RESOURCE_CANNOT_BE_FOUND: 'A resource the deployment needs could not be found.',
  CUSTOMER_APPLICATION_UNHEALTHY: 'The deployed application did not become healthy.',
  DEPLOYMENT_GROUP_MISSING: 'The deployment group no longer exists.',
  ECS_UPDATE_ERROR: 'Updating the ECS service failed (for example, the replacement task set is unhealthy).',
  ELASTIC_LOAD_BALANCING_INVALID: "The deployment group's load balancer configuration is invalid.",
  ELB_INVALID_INSTANCE: 'An instance could not be registered with or deregistered from the load balancer.',
  HEALTH_CONSTRAINTS: 'Too many instances failed, so the minimum number of healthy hosts could not be kept.',
  HEALTH_CONSTRAINTS_INVALID:
    'The minimum-healthy-hosts setting cannot be met with the instances in the deployment group.',
  HOOK_EXECUTION_FAILURE: 'A lifecycle hook (a validation Lambda function) reported failure.',
  IAM_ROLE_MISSING: 'The service role of the deployment group is missing.',
  IAM_ROLE_PERMISSIONS: 'The service role of the deployment group lacks permissions CodeDeploy needs.',
  INTERNAL_ERROR: 'CodeDeploy had an internal error.',
  INVALID_ECS_SERVICE: 'The ECS service of the deployment group is invalid.',
  INVALID_LAMBDA_CONFIGURATION: 'The Lambda function configuration of the deployment is invalid.',
  INVALID_LAMBDA_FUNCTION: 'The Lambda function of the deployment is invalid.',
  INVALID_REVISION: 'The application revision is invalid.',
  MANUAL_STOP: 'Someone stopped the deployment.',
  MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION: 'The blue/green deployment configuration is missing.',
  MISSING_ELB_INFORMATION: 'The load balancer information of the deployment group is missing.',
  MISSING_GITHUB_TOKEN: 'CodeDeploy has no GitHub token to fetch the revision.',
  NO_EC2_SUBSCRIPTION: 'The AWS account is not subscribed to Amazon EC2.',
  NO_INSTANCES: 'No instances matched the deployment group, or none were healthy enough to deploy to.',
  OVER_MAX_INSTANCES:
    'The deployment targets more instances than the account is allowed to deploy to at once.',
  RESOURCE_LIMIT_EXCEEDED: 'An AWS resource limit was exceeded.',
  REVISION_MISSING: 'The application revision could not be found.',
  THROTTLED: 'AWS throttled CodeDeploy while it deployed.',
  TIMEOUT: 'The deployment timed out.',
};

/** A human sentence for a CodeDeploy error code, with a generic fallback for codes not known here. */
export function describeCodeDeployError(code: string): string {
  const known = Object.hasOwn(CODEDEPLOY_ERROR_DESCRIPTIONS, code)
    ? CODEDEPLOY_ERROR_DESCRIPTIONS[code]
    : undefined;
  if (known) return known;
  return code ? `The deployment failed with CodeDeploy error ${code}.` : 'The deployment failed.';
}
