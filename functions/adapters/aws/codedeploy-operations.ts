import type { CodeDeployClient, CodeDeployClientConfig } from '@aws-sdk/client-codedeploy';
import {
  type CodeDeployDeploymentRef,
  type DeploymentOperations,
  OperationFailedError,
  type StopDeploymentAnswer,
} from '../../core/ports.ts';

/** How to reach CodeDeploy for operations. */
export interface CodeDeployOperationsOptions {
  /** The accounts Shipcast's credentials act in (its own); a deployment of any other is refused. Empty: any. */
  accounts: readonly string[];
  /** Endpoint override for every region (a local stand-in: `SHIPCAST_CODEDEPLOY_ENDPOINT`). */
  endpoint?: string;
  credentials?: CodeDeployClientConfig['credentials'];
  /** Per-call timeout: a Slack click is answered within 3 s, the stop included. */
  timeoutMs?: number;
}

/**
 * CodeDeploy's StopDeployment behind the DeploymentOperations port. The SDK is imported on the first stop,
 * so a function that never stops a deployment never loads it; one client per region.
 * API: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html
 */
export class CodeDeployOperations implements DeploymentOperations {
  private readonly clients = new Map<string, Promise<CodeDeployClient>>();

  constructor(private readonly options: CodeDeployOperationsOptions) {}

  reaches(account: string): boolean {
    return this.options.accounts.length === 0 || this.options.accounts.includes(account);
  }

  async stopCodeDeploy(
    ref: CodeDeployDeploymentRef,
    options: { rollback: boolean },
  ): Promise<StopDeploymentAnswer> {
    const { StopDeploymentCommand } = await import('@aws-sdk/client-codedeploy');
    const client = await this.client(ref.region);
    try {
      const output = await client.send(
        new StopDeploymentCommand({ deploymentId: ref.deploymentId, autoRollbackEnabled: options.rollback }),
      );
      return {
        status: output.status ?? 'Pending',
        ...(output.statusMessage ? { statusMessage: output.statusMessage } : {}),
      };
    } catch (error) {
      const name = error instanceof Error && error.name !== 'Error' ? error.name : 'Error';
      throw new OperationFailedError(name, ((error as Error).message ?? String(error)).slice(0, 300));
    }
  }

  private client(region: string): Promise<CodeDeployClient> {
    let client = this.clients.get(region);
    if (!client) {
      const timeout = this.options.timeoutMs ?? 2000;
      client = import('@aws-sdk/client-codedeploy').then(
        ({ CodeDeployClient }) =>
          new CodeDeployClient({
            region,
            // StopDeployment is not idempotent in what it answers; one retry of a throttled call fits in 3 s.
            maxAttempts: 2,
            requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
            ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
            ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
          }),
      );
      this.clients.set(region, client);
    }
    return client;
  }
}
