import { AssumedRoles } from '../adapters/aws/assumed-roles.ts';
import { CodeDeployEnricher, type MemberAccounts } from '../adapters/aws/codedeploy-enricher.ts';
import type { ShipcastConfig } from '../core/config.ts';
import { MEMBER_ROLE_NAME } from '../core/config-defaults.ts';
import type { Enricher } from '../core/ports.ts';
import { CODEDEPLOY_SOURCE } from '../core/sources/codedeploy.ts';
import { ENV } from './env.ts';

/** The enrichers of the functions that ingest events (ingest, API): CodeDeploy's, unless the config turns it off. */
export function awsEnrichers(config: ShipcastConfig): Record<string, Enricher> | undefined {
  if (!config.sources.codedeploy.enrich) return undefined;
  const ownAccount = process.env[ENV.account];
  const memberAccounts = ownAccount
    ? memberAccountsOf(config, ownAccount, process.env[ENV.partition] || 'aws', new AssumedRoles())
    : undefined;
  return { [CODEDEPLOY_SOURCE]: new CodeDeployEnricher({ memberAccounts }) };
}

/**
 * How the enricher reads deployments of accounts other than `ownAccount`: the role `memberRoles` names for
 * the account, else `memberRoleName` in it (docs/organizations.md).
 */
export function memberAccountsOf(
  config: ShipcastConfig,
  ownAccount: string,
  partition: string,
  roles: Pick<AssumedRoles, 'credentialsFor'>,
): MemberAccounts {
  const { memberRoles, memberRoleName } = config.sources.codedeploy;
  return {
    ownAccount,
    roleArnFor: (account) =>
      memberRoles?.[account] ?? `arn:${partition}:iam::${account}:role/${memberRoleName ?? MEMBER_ROLE_NAME}`,
    credentialsFor: (roleArn) => roles.credentialsFor(roleArn),
  };
}
