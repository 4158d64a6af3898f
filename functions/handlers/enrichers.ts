import { CodeDeployEnricher } from '../adapters/aws/codedeploy-enricher.ts';
import type { ShipcastConfig } from '../core/config.ts';
import type { Enricher } from '../core/ports.ts';
import { CODEDEPLOY_SOURCE } from '../core/sources/codedeploy.ts';

/** The enrichers of the functions that ingest events (ingest, API): CodeDeploy's, unless the config turns it off. */
export function awsEnrichers(config: ShipcastConfig): Record<string, Enricher> | undefined {
  return config.sources.codedeploy.enrich ? { [CODEDEPLOY_SOURCE]: new CodeDeployEnricher() } : undefined;
}
