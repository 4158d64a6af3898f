import { createHash } from 'node:crypto';
import {
  BatchGetDeploymentsCommand,
  CodeDeployClient,
  type CodeDeployClientConfig,
  type DeploymentInfo,
  type RevisionLocation,
} from '@aws-sdk/client-codedeploy';
import type { Enricher } from '../../core/ports.ts';
import type { DeploymentEvent, Revision } from '../../core/schema.ts';
import { CODEDEPLOY_SOURCE, codeDeploySourceId, countsFrom } from '../../core/sources/codedeploy.ts';
import type { RoleCredentials } from './assumed-roles.ts';

/** BatchGetDeployments accepts at most 25 ids; more fail the whole call with BatchLimitExceededException. */
export const BATCH_GET_DEPLOYMENTS_LIMIT = 25;

/** How to reach CodeDeploy. */
export interface CodeDeployEnricherOptions {
  /** Builds the client of a region (tests, custom retry settings). Called at most once per region. */
  clientFor?: (region: string) => CodeDeployClient;
  /** Endpoint override for the default clients (a local fake in tests). */
  endpoint?: string;
  /** Credentials for the default clients; the SDK's default chain when absent. */
  credentials?: CodeDeployClientConfig['credentials'];
  /** Deployments of other accounts: read with a role assumed in each. Without it every account is read as our own. */
  memberAccounts?: MemberAccounts;
}

/** How deployments of other accounts are read (docs/organizations.md). */
export interface MemberAccounts {
  /** The account the default credentials belong to (the central account). */
  ownAccount: string;
  /** The role to assume in `account`. */
  roleArnFor(account: string): string;
  /** The credentials of a role (AssumedRoles); throws with the reason when there are none. */
  credentialsFor(roleArn: string): Promise<RoleCredentials>;
}

/** CodeDeploy deployment ids look like `d-4F2KQ8ZX1`. */
const DEPLOYMENT_ID = /^d-[A-Z0-9]{1,64}$/i;

type EnrichResult = { ok: true } | { ok: false; error: string };

/** Adds what CodeDeploy's BatchGetDeployments knows (revision, creator, description, …) to CodeDeploy events. */
export class CodeDeployEnricher implements Enricher {
  private readonly clients = new Map<string, CodeDeployClient>();
  private readonly makeClient: (region: string, roleArn?: string) => CodeDeployClient;
  private readonly memberAccounts?: MemberAccounts;

  constructor(options: CodeDeployEnricherOptions = {}) {
    this.memberAccounts = options.memberAccounts;
    const members = options.memberAccounts;
    this.makeClient = (region, roleArn) =>
      !roleArn && options.clientFor
        ? options.clientFor(region)
        : new CodeDeployClient({
            region,
            ...(options.endpoint ? { endpoint: options.endpoint } : {}),
            ...(roleArn && members
              ? { credentials: () => members.credentialsFor(roleArn) }
              : options.credentials
                ? { credentials: options.credentials }
                : {}),
          });
  }

  /** The client of a region (with the role of a member account), created on first use and kept. */
  private client(region: string, roleArn?: string): CodeDeployClient {
    const key = `${roleArn ?? ''}|${region}`;
    let client = this.clients.get(key);
    if (!client) {
      client = this.makeClient(region, roleArn);
      this.clients.set(key, client);
    }
    return client;
  }

  /**
   * Enriches the CodeDeploy events in place (only fields an event lacks) and returns, per Shipcast
   * deployment id, whether that worked. Events of other sources are ignored. Never throws.
   */
  async enrich(events: DeploymentEvent[]): Promise<Map<string, EnrichResult>> {
    const results = new Map<string, EnrichResult>();
    // account role + region → CodeDeploy id → the events of that deployment
    const byPlace = new Map<
      string,
      { region: string; roleArn?: string; ids: Map<string, DeploymentEvent[]> }
    >();
    for (const event of events) {
      if (event.source !== CODEDEPLOY_SOURCE) continue;
      const region = event.details?.region;
      const codeDeployId = event.details?.codeDeployId;
      if (!region || !codeDeployId) {
        results.set(event.deploymentId, {
          ok: false,
          error: 'event names no CodeDeploy region and deployment id',
        });
        continue;
      }
      // One malformed id fails a whole batch (InvalidDeploymentIdException), so it never joins one.
      if (!DEPLOYMENT_ID.test(codeDeployId)) {
        results.set(event.deploymentId, {
          ok: false,
          error: `"${truncate(codeDeployId)}" is not a CodeDeploy deployment id`,
        });
        continue;
      }
      const account = event.account ?? event.details?.account;
      const roleArn =
        this.memberAccounts && account && account !== this.memberAccounts.ownAccount
          ? this.memberAccounts.roleArnFor(account)
          : undefined;
      const key = `${roleArn ?? ''}|${region}`;
      let place = byPlace.get(key);
      if (!place) {
        place = { region, roleArn, ids: new Map() };
        byPlace.set(key, place);
      }
      const list = place.ids.get(codeDeployId);
      if (list) list.push(event);
      else place.ids.set(codeDeployId, [event]);
    }

    await Promise.all(
      [...byPlace.values()].map(async ({ region, roleArn, ids }) => {
        if (roleArn) {
          // Without the member account's role there is nothing to ask: every event is recorded unenriched.
          try {
            await this.memberAccounts?.credentialsFor(roleArn);
          } catch (error) {
            const message = `cannot read deployments of another account: ${describeAwsError(error, 400)}`;
            for (const id of ids.keys()) markAll(ids, id, results, { ok: false, error: message });
            return;
          }
        }
        const all = [...ids.keys()];
        // Chunks of one region run one after another, to stay gentle on a throttled API.
        for (let i = 0; i < all.length; i += BATCH_GET_DEPLOYMENTS_LIMIT) {
          const chunk = all.slice(i, i + BATCH_GET_DEPLOYMENTS_LIMIT);
          await this.enrichChunk(region, roleArn, chunk, ids, results);
        }
      }),
    );
    return results;
  }

  private async enrichChunk(
    region: string,
    roleArn: string | undefined,
    chunk: string[],
    ids: Map<string, DeploymentEvent[]>,
    results: Map<string, EnrichResult>,
  ): Promise<void> {
    const mark = (codeDeployId: string, result: EnrichResult) => markAll(ids, codeDeployId, results, result);
    let infos: DeploymentInfo[];
    let errorMessage: string | undefined;
    try {
      const output = await this.client(region, roleArn).send(
        new BatchGetDeploymentsCommand({ deploymentIds: chunk }),
      );
      infos = output.deploymentsInfo ?? [];
      // Not in BatchGetDeployments' model (the other Batch* calls have it) and so normally dropped by
      // the SDK; kept in case AWS reports partial failures this way.
      errorMessage = (output as { errorMessage?: string }).errorMessage || undefined;
    } catch (error) {
      const message = `BatchGetDeployments in ${region} failed: ${describeAwsError(error)}`;
      for (const id of chunk) mark(id, { ok: false, error: message });
      return;
    }
    const found = new Map<string, DeploymentInfo>();
    for (const info of infos) if (info.deploymentId) found.set(info.deploymentId, info);
    for (const id of chunk) {
      const info = found.get(id);
      if (!info) {
        // BatchGetDeployments has no DeploymentDoesNotExist error: it leaves out ids it does not know
        // (including ids of another account, whose credentials we do not have).
        mark(id, {
          ok: false,
          error: `deployment ${id} not found in ${region}${errorMessage ? `: ${truncate(errorMessage)}` : ''}`,
        });
        continue;
      }
      for (const event of ids.get(id) ?? []) applyDeploymentInfo(event, info);
      mark(id, { ok: true });
    }
  }
}

/** Records `result` for every event of one CodeDeploy deployment; one failed event marks the deployment failed. */
function markAll(
  ids: Map<string, DeploymentEvent[]>,
  codeDeployId: string,
  results: Map<string, EnrichResult>,
  result: EnrichResult,
): void {
  for (const event of ids.get(codeDeployId) ?? []) {
    const previous = results.get(event.deploymentId);
    if (!previous || previous.ok) results.set(event.deploymentId, result);
  }
}

/** `Name: message` of an AWS SDK error (ThrottlingException, AccessDeniedException, …), kept short. */
function describeAwsError(error: unknown, max = 200): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? error.name : 'Error';
    // An AssumeRoleError's message already says what failed.
    if (name === 'AssumeRoleError') return truncate(error.message, max);
    return truncate(error.message ? `${name}: ${error.message}` : name, max);
  }
  return truncate(String(error), max);
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Fills the fields the event lacks from a BatchGetDeployments `deploymentInfo`. Exported for tests. */
export function applyDeploymentInfo(event: DeploymentEvent, info: DeploymentInfo): void {
  if (!event.service && info.applicationName) event.service = info.applicationName;
  if (!event.environment && info.deploymentGroupName) event.environment = info.deploymentGroupName;
  const details: Record<string, string> = { ...event.details };
  if (!event.revision) {
    const revision = revisionFrom(info.revision);
    if (revision.revision) event.revision = revision.revision;
    if (revision.sha256 && !details.revisionSha256) details.revisionSha256 = revision.sha256;
  }
  if (!event.actor && info.creator) event.actor = info.creator;
  if (!event.description && info.description) event.description = info.description;
  if (!event.error && (info.errorInformation?.code || info.errorInformation?.message)) {
    event.error = {
      ...(info.errorInformation.code ? { code: info.errorInformation.code } : {}),
      message: info.errorInformation.message || info.errorInformation.code || 'unknown error',
    };
  }
  const triggering = info.rollbackInfo?.rollbackTriggeringDeploymentId;
  if (!event.rollbackOfSourceId && triggering && details.account && details.region) {
    event.rollbackOfSourceId = codeDeploySourceId(details.account, details.region, triggering);
  }
  // startedAt is the creation time, as the trigger parser does (`startTime` can even be later
  // than `completeTime`: CodeDeploy's servers' clocks differ).
  const started = validDate(info.createTime) ?? validDate(info.startTime);
  if (!event.startedAt && started) event.startedAt = started;
  const finished = validDate(info.completeTime);
  if (!event.finishedAt && finished) event.finishedAt = finished;
  if (!event.counts) {
    const counts = countsFrom(info.deploymentOverview);
    if (counts) event.counts = counts;
  }
  if (!details.application && info.applicationName) details.application = info.applicationName;
  if (!details.deploymentGroup && info.deploymentGroupName)
    details.deploymentGroup = info.deploymentGroupName;
  if (!details.computePlatform && info.computePlatform) details.computePlatform = info.computePlatform;
  if (!details.deploymentConfig && info.deploymentConfigName)
    details.deploymentConfig = info.deploymentConfigName;
  event.details = details;
}

function validDate(date: Date | undefined): string | undefined {
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
}

/** A Shipcast revision from CodeDeploy's RevisionLocation, plus a content hash for String/AppSpecContent. */
export function revisionFrom(location: RevisionLocation | undefined): {
  revision?: Revision;
  sha256?: string;
} {
  if (!location) return {};
  switch (location.revisionType) {
    case 'GitHub': {
      const gh = location.gitHubLocation;
      if (!gh?.repository && !gh?.commitId) return {};
      return {
        revision: {
          ...(gh.repository ? { repository: gh.repository } : {}),
          ...(gh.commitId ? { commit: gh.commitId } : {}),
        },
      };
    }
    case 'S3': {
      const s3 = location.s3Location;
      if (!s3?.bucket || !s3.key) return {};
      return {
        revision: {
          s3: {
            bucket: s3.bucket,
            key: s3.key,
            ...(s3.bundleType ? { bundleType: s3.bundleType } : {}),
            ...(s3.version ? { version: s3.version } : {}),
            ...(s3.eTag ? { eTag: s3.eTag } : {}),
          },
        },
      };
    }
    case 'String':
    case 'AppSpecContent': {
      // ECS/Lambda revisions are an inline AppSpec: no commit to show, only a hash to tell them apart.
      const raw = location.revisionType === 'String' ? location.string : location.appSpecContent;
      if (raw?.sha256) return { sha256: raw.sha256 };
      if (raw?.content) return { sha256: createHash('sha256').update(raw.content).digest('hex') };
      return {};
    }
    default:
      return {};
  }
}
