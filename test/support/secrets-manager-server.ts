import { awsError, type CapturedAwsRequest, startAwsJsonServer } from './aws-json-server.ts';

/**
 * A local stand-in for AWS Secrets Manager, speaking its wire protocol (AWS JSON 1.1, see
 * aws-json-server.ts), so a real SecretsManagerClient (e.g. the one bundled into the Lambda functions) can
 * be pointed at it with `endpoint` or `AWS_ENDPOINT_URL_SECRETS_MANAGER`:
 * `x-amz-target: secretsmanager.GetSecretValue`, the only operation implemented (current version only).
 */

/** A request the server received. */
export type CapturedSecretsRequest = CapturedAwsRequest;

/** A running fake Secrets Manager holding `secrets` (name → SecretString). */
export interface SecretsManagerServer {
  endpoint: string;
  requests: CapturedSecretsRequest[];
  /** Secret name → SecretString; change it freely while the server runs. */
  secrets: Map<string, string>;
  close(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
/** Secrets Manager appends a dash and six random characters to the name in a secret's ARN. */
const ARN_SUFFIX = '-AbC123';
const CREATED = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);

const arnOf = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}${ARN_SUFFIX}`;

/** Starts the fake on 127.0.0.1 on a random port. */
export async function startSecretsManagerServer(
  secrets: Record<string, string> = {},
): Promise<SecretsManagerServer> {
  const state: Omit<SecretsManagerServer, 'endpoint' | 'close'> = {
    requests: [],
    secrets: new Map(Object.entries(secrets)),
  };
  const server = await startAwsJsonServer({
    target: 'secretsmanager.GetSecretValue',
    internalError: 'InternalServiceError',
    requests: state.requests,
    operation: getSecretValue,
  });
  return Object.assign(state, server);

  function getSecretValue(body: Record<string, unknown>) {
    const secretId = body.SecretId;
    if (typeof secretId !== 'string' || secretId.length === 0) {
      return awsError('InvalidParameterException', 'You must provide a value for SecretId.');
    }
    // SecretId is a name or a (full) ARN.
    const name = [...state.secrets.keys()].find((n) => n === secretId || arnOf(n) === secretId);
    if (name === undefined) {
      return awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return {
      status: 200,
      body: {
        ARN: arnOf(name),
        Name: name,
        SecretString: state.secrets.get(name),
        VersionId: '00000000-0000-4000-8000-000000000001',
        VersionStages: ['AWSCURRENT'],
        // AWS JSON 1.1 timestamps are epoch seconds.
        CreatedDate: CREATED,
      },
    };
  }
}
