#!/usr/bin/env node
/**
 * The CDK app a member account deploys (docs/organizations.md):
 *   npx cdk --app 'npx tsx bin/shipcast-member.ts' deploy \
 *     -c shipcast:eventBusArn=<OrganizationEventBusArn> -c shipcast:ingestRoleArn=<IngestRoleArn>
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ShipcastMemberPropsError, ShipcastMemberStack } from '../lib/index.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(`shipcast:${key}`);
  return value === undefined || value === '' ? undefined : String(value);
};
try {
  new ShipcastMemberStack(app, 'ShipcastMember', {
    description:
      'Shipcast member account: CodeDeploy events to the central Shipcast, and its enrichment role',
    eventBusArn: context('eventBusArn') ?? '',
    ingestRoleArn: context('ingestRoleArn'),
    organizationId: context('organizationId'),
    enrichmentRole: context('enrichmentRole') !== 'false',
    roleName: context('roleName'),
    instanceEvents: context('instanceEvents') === 'true',
  });
} catch (error) {
  if (!(error instanceof ShipcastMemberPropsError)) throw error;
  console.error(`${error.message}\n(pass it with -c shipcast:<prop>=<value>; see docs/organizations.md)`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
