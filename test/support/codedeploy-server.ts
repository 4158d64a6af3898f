import { awsError, type CapturedAwsRequest, startAwsJsonServer } from './aws-json-server.ts';

/**
 * A local stand-in for the CodeDeploy API, speaking its wire protocol (AWS JSON 1.1, see
 * aws-json-server.ts), so the real CodeDeployClient can be tested end to end:
 * `x-amz-target: CodeDeploy_20141006.BatchGetDeployments`, the only operation implemented.
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
}

/** A running fake CodeDeploy. `deployments` holds `deploymentInfo` objects in wire form (epoch-second times). */
export interface CodeDeployServer {
  endpoint: string;
  requests: CapturedRequest[];
  deployments: Map<string, Record<string, unknown>>;
  failures: ScriptedFailure[];
  /** Extra top-level fields added to successful BatchGetDeployments answers. */
  extraOutput: Record<string, unknown>;
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
  };
  const server = await startAwsJsonServer({
    target: 'CodeDeploy_20141006.BatchGetDeployments',
    internalError: 'InternalFailure',
    requests: state.requests,
    operation: batchGetDeployments,
  });
  return Object.assign(state, server);

  function batchGetDeployments(body: Record<string, unknown>) {
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
    const failure = state.failures.find((f) => !f.whenIds || f.whenIds.some((id) => ids.includes(id)));
    if (failure) {
      if (failure.times !== undefined && --failure.times <= 0)
        state.failures.splice(state.failures.indexOf(failure), 1);
      return awsError(failure.type, failure.message, failure.status ?? 400);
    }
    // Like CodeDeploy, unknown ids are simply left out of the answer.
    const deploymentsInfo = ids.flatMap((id) => {
      const info = state.deployments.get(String(id));
      return info ? [info] : [];
    });
    return { status: 200, body: { deploymentsInfo, ...state.extraOutput } };
  }
}
