#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { configPath, loadConfigFile, type ShipcastConfig } from '../functions/core/config.ts';
import { ConfigError } from '../functions/core/errors.ts';
import { ShipcastStack } from '../lib/index.ts';

let config: ShipcastConfig;
try {
  config = loadConfigFile(configPath());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const app = new App();
new ShipcastStack(app, 'Shipcast', {
  config,
  description: 'Shipcast: deployment-event hub',
  // Optional: cdk synth -c shipcast:alarmTopicArn=arn:aws:sns:...
  alarmTopicArn: app.node.tryGetContext('shipcast:alarmTopicArn'),
  // Optional: cdk deploy -c shipcast:organizationId=o-... (docs/organizations.md)
  organizationId: app.node.tryGetContext('shipcast:organizationId'),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
