import {
  type AwsJsonAnswer,
  awsError,
  type CapturedAwsRequest,
  startAwsJsonServer,
} from './aws-json-server.ts';

/**
 * A local stand-in for the CodeDeploy API, speaking its wire protocol (AWS JSON 1.1, see
 * aws-json-server.ts), so the real CodeDeployClient can be tested end to end (`x-amz-target:
 * CodeDeploy_20141006.<Op>`): BatchGetDeployments, GetDeployment, StopDeployment, GetDeploymentGroup,
 * UpdateDeploymentGroup (its `triggerConfigurations` replaces the whole list, as the real API does) and
 * ListDeploymentGroups, with the real API's error names.
 */

/** A request the server received. */
export type CapturedRequest = CapturedAwsRequest;

/** An error the next matching call answers with instead of the deployments. */
export interface ScriptedFailure {
  /** AWS error name, e.g. `ThrottlingException`, `AccessDeniedException`. */
  type: string;
  message: string;
  status?: number;
  /** Only calls asking for one of these ids fail; all calls when absent. */
  whenIds?: string[];
  /** Fail only this many times (then removed); forever when absent. */
  times?: number;
  /** The operation that fails (default BatchGetDeployments), e.g. `UpdateDeploymentGroup`. */
  operation?: string;
}

/** A deployment group as GetDeploymentGroup answers it (`deploymentGroupInfo`), by application. */
export interface FakeDeploymentGroup {
  applicationName: string;
  deploymentGroupName: string;
  triggerConfigurations: { triggerName: string; triggerTargetArn: string; triggerEvents: string[] }[];
  [field: string]: unknown;
}

/** A running fake CodeDeploy. `deployments` holds `deploymentInfo` objects in wire form (epoch-second times). */
export interface CodeDeployServer {
  endpoint: string;
  requests: CapturedRequest[];
  deployments: Map<string, Record<string, unknown>>;
  failures: ScriptedFailure[];
  /** Extra top-level fields added to successful BatchGetDeployments answers. */
  extraOutput: Record<string, unknown>;
  /** Deployment groups, keyed `<application>/<group>`. */
  groups: Map<string, FakeDeploymentGroup>;
  /** GetDeployment calls after a StopDeployment before the deployment shows Stopped (default 2). */
  stopAfterPolls: number;
  /**
   * Other accounts, as the real API sees them: a caller whose access key is in `keyAccounts` (e.g. one
   * the STS stand-in issued for a member role) sees only the deployments of that account.
   */
  keyAccounts: Map<string, string>;
  /** Deployments of other accounts, by account id (wire form, like `deployments`). */
  accountDeployments: Map<string, Map<string, Record<string, unknown>>>;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 on a random port. */
export async function startCodeDeployServer(
  deployments: Record<string, unknown>[] = [],
): Promise<CodeDeployServer> {
  const state: Omit<CodeDeployServer, 'endpoint' | 'close'> = {
    requests: [],
    deployments: new Map(deployments.map((d) => [String(d.deploymentId), d])),
    failures: [],
    extraOutput: {},
    groups: new Map(),
    stopAfterPolls: 2,
    keyAccounts: new Map(),
    accountDeployments: new Map(),
  };
  /** Deployments being stopped: GetDeployment polls left until Stopped, and whether to roll back. */
  const stopping = new Map<string, { polls: number; rollback: boolean }>();
  let rollbacks = 0;
  const op = (name: string) => `CodeDeploy_20141006.${name}`;
  const guarded =
    (name: string, operation: (body: Record<string, unknown>) => AwsJsonAnswer) =>
    (body: Record<string, unknown>): AwsJsonAnswer =>
      scriptedFailure(name, []) ?? operation(body);
  const server = await startAwsJsonServer({
    target: op('BatchGetDeployments'),
    internalError: 'InternalFailure',
    requests: state.requests,
    operation: batchGetDeployments,
    operations: {
      [op('GetDeployment')]: guarded('GetDeployment', getDeployment),
      [op('StopDeployment')]: guarded('StopDeployment', stopDeployment),
      [op('GetDeploymentGroup')]: guarded('GetDeploymentGroup', getDeploymentGroup),
      [op('UpdateDeploymentGroup')]: guarded('UpdateDeploymentGroup', updateDeploymentGroup),
      [op('ListDeploymentGroups')]: guarded('ListDeploymentGroups', listDeploymentGroups),
    },
  });
  return Object.assign(state, server);

  function scriptedFailure(operation: string, ids: unknown[]): AwsJsonAnswer | undefined {
    const failure = state.failures.find(
      (f) =>
        (f.operation ?? 'BatchGetDeployments') === operation &&
        (!f.whenIds || f.whenIds.some((id) => ids.includes(id))),
    );
    if (!failure) return undefined;
    if (failure.times !== undefined && --failure.times <= 0)
      state.failures.splice(state.failures.indexOf(failure), 1);
    return awsError(failure.type, failure.message, failure.status ?? 400);
  }

  function getDeployment(body: Record<string, unknown>): AwsJsonAnswer {
    const id = String(body.deploymentId ?? '');
    if (!id) return awsError('DeploymentIdRequiredException', 'Deployment ID is required');
    const info = state.deployments.get(id);
    if (!info) return awsError('DeploymentDoesNotExistException', `The deployment ${id} could not be found.`);
    const stop = stopping.get(id);
    if (stop && --stop.polls <= 0) {
      stopping.delete(id);
      info.status = 'Stopped';
      info.completeTime = Math.floor(Date.now() / 1000);
      if (stop.rollback) {
        const rollbackId = `d-ROLLBACK${++rollbacks % 10}`;
        info.rollbackInfo = {
          rollbackDeploymentId: rollbackId,
          rollbackMessage: `Rolled back by ${rollbackId}`,
        };
      }
    }
    return { status: 200, body: { deploymentInfo: info } };
  }

  function stopDeployment(body: Record<string, unknown>): AwsJsonAnswer {
    const id = String(body.deploymentId ?? '');
    const info = state.deployments.get(id);
    if (!info) return awsError('DeploymentDoesNotExistException', `The deployment ${id} could not be found.`);
    if (!['Created', 'Queued', 'InProgress', 'Baking', 'Ready'].includes(String(info.status))) {
      return awsError('DeploymentAlreadyCompletedException', `The deployment ${id} has already completed.`);
    }
    stopping.set(id, { polls: state.stopAfterPolls, rollback: body.autoRollbackEnabled === true });
    // Like CodeDeploy: the stop is accepted (Pending); GetDeployment shows Stopped once it took effect.
    return { status: 200, body: { status: 'Pending', statusMessage: 'Stopping the deployment.' } };
  }

  function findGroup(body: Record<string, unknown>, nameField: string): FakeDeploymentGroup | AwsJsonAnswer {
    const application = String(body.applicationName ?? '');
    const name = String(body[nameField] ?? '');
    if (!application) return awsError('ApplicationNameRequiredException', 'Application name is required');
    if (![...state.groups.values()].some((g) => g.applicationName === application)) {
      return awsError('ApplicationDoesNotExistException', `No application found for name: ${application}`);
    }
    if (!name) return awsError('DeploymentGroupNameRequiredException', 'Deployment group name is required');
    const group = state.groups.get(`${application}/${name}`);
    return (
      group ?? awsError('DeploymentGroupDoesNotExistException', `No Deployment Group found for name: ${name}`)
    );
  }

  function getDeploymentGroup(body: Record<string, unknown>): AwsJsonAnswer {
    const group = findGroup(body, 'deploymentGroupName');
    if ('status' in group && 'body' in group) return group as AwsJsonAnswer;
    return { status: 200, body: { deploymentGroupInfo: group } };
  }

  function updateDeploymentGroup(body: Record<string, unknown>): AwsJsonAnswer {
    const group = findGroup(body, 'currentDeploymentGroupName');
    if ('status' in group && 'body' in group) return group as AwsJsonAnswer;
    const triggers = body.triggerConfigurations;
    if (triggers !== undefined) {
      if (!Array.isArray(triggers))
        return awsError('InvalidTriggerConfigException', 'triggerConfigurations must be a list');
      if (triggers.length > 10) {
        return awsError(
          'TriggerTargetsLimitExceededException',
          'The maximum number of triggers (10) was exceeded.',
        );
      }
      for (const t of triggers as Record<string, unknown>[]) {
        if (!t.triggerName || !String(t.triggerTargetArn ?? '').startsWith('arn:aws:sns:')) {
          return awsError('InvalidTriggerConfigException', 'The trigger was specified in an invalid format.');
        }
      }
      // The real API replaces the whole list with what was sent.
      group.triggerConfigurations = triggers as FakeDeploymentGroup['triggerConfigurations'];
    }
    return { status: 200, body: { hooksNotCleanedUp: [] } };
  }

  function listDeploymentGroups(body: Record<string, unknown>): AwsJsonAnswer {
    const application = String(body.applicationName ?? '');
    const names = [...state.groups.values()]
      .filter((g) => g.applicationName === application)
      .map((g) => g.deploymentGroupName);
    if (names.length === 0)
      return awsError('ApplicationDoesNotExistException', `No application found for name: ${application}`);
    // One name per page, so callers must follow nextToken as they must against the real API (pages of up to 100).
    const start = body.nextToken ? Number(body.nextToken) : 0;
    const page = names.slice(start, start + 1);
    const next = start + 1 < names.length ? String(start + 1) : undefined;
    return {
      status: 200,
      body: { applicationName: application, deploymentGroups: page, ...(next ? { nextToken: next } : {}) },
    };
  }

  /** The deployments the caller's account has: another account's when its key belongs to one. */
  function deploymentsOf(request: CapturedRequest): Map<string, Record<string, unknown>> {
    const account = request.accessKeyId ? state.keyAccounts.get(request.accessKeyId) : undefined;
    return account ? (state.accountDeployments.get(account) ?? new Map()) : state.deployments;
  }

  function batchGetDeployments(body: Record<string, unknown>, request: CapturedRequest) {
    const ids = body.deploymentIds;
    if (!Array.isArray(ids) || ids.length === 0) {
      return awsError('DeploymentIdRequiredException', 'At least one deployment ID must be specified');
    }
    if (ids.length > 25) {
      return awsError(
        'BatchLimitExceededException',
        'The maximum number of names or IDs allowed for this request (25) was exceeded.',
      );
    }
    const failure = scriptedFailure('BatchGetDeployments', ids);
    if (failure) return failure;
    // Like CodeDeploy, unknown ids are simply left out of the answer.
    const deployments = deploymentsOf(request);
    const deploymentsInfo = ids.flatMap((id) => {
      const info = deployments.get(String(id));
      return info ? [info] : [];
    });
    return { status: 200, body: { deploymentsInfo, ...state.extraOutput } };
  }
}
