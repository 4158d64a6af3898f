import type { ShipcastConfig } from './config.ts';
import { TARGETS } from './targets/index.ts';

/**
 * Every secret name the config refers to: the API tokens', the sources' and each target's (its code knows which of
 * its fields name secrets). Apart from `config.ts`, which validates the config without importing any target's code.
 */
export function referencedSecrets(config: ShipcastConfig): string[] {
  const names = new Set(config.api.tokens.map((t) => t.secret));
  if (config.sources.github) names.add(config.sources.github.secret);
  if (config.sources.gitlab) names.add(config.sources.gitlab.token);
  if (config.sources.pagerduty) names.add(config.sources.pagerduty.secret);
  for (const target of Object.values(config.targets)) {
    const definition = TARGETS.find((d) => d.type === target.type);
    for (const secret of definition?.secretNames(target as never) ?? []) names.add(secret);
    // Read by the API only (it verifies Slack's interaction requests), so not among the target's own secrets.
    const signing = (target as { actions?: { signingSecret?: string } }).actions?.signingSecret;
    if (signing) names.add(signing);
  }
  return [...names].sort();
}
