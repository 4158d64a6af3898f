import type { RouteConfig, ShipcastConfig, TransitionMode } from './config.ts';
import type { Deployment } from './schema.ts';
import { isTerminal, outcome, type Status } from './status.ts';

/** The facts a route is matched against. */
export interface RoutingInput {
  deployment: Pick<Deployment, 'service' | 'environment' | 'source' | 'account' | 'region'>;
  to: Status;
  /** Terminal status of the previous deployment of the same service+environment, if any. */
  previous?: Status;
}

/** Names of the targets routed for a transition, in config order, each once. */
export function routeTransition(config: ShipcastConfig, input: RoutingInput): string[] {
  const targets: string[] = [];
  for (const route of config.routes) {
    if (!routeMatches(route, input)) continue;
    for (const target of route.targets) if (!targets.includes(target)) targets.push(target);
  }
  return targets;
}

/** Per routed target, the message templates of the first matching route that overrides them. */
export function routeMessages(
  config: ShipcastConfig,
  input: RoutingInput,
): Record<string, { title?: string; text?: string }> {
  const messages: Record<string, { title?: string; text?: string }> = {};
  for (const route of config.routes) {
    if (!route.message || !routeMatches(route, input)) continue;
    for (const target of route.targets) messages[target] ??= route.message;
  }
  return messages;
}

/** True when the route's match and transition modes accept the input. */
export function routeMatches(route: RouteConfig, input: RoutingInput): boolean {
  const { match } = route;
  if (!globsMatch(match.service, input.deployment.service ?? '')) return false;
  if (!globsMatch(match.environment, input.deployment.environment ?? '')) return false;
  if (!globsMatch(match.source, input.deployment.source)) return false;
  if (!globsMatch(match.account, input.deployment.account ?? '')) return false;
  if (!globsMatch(match.region, input.deployment.region ?? '')) return false;
  if (match.status && !match.status.includes(input.to)) return false;
  return route.on.some((mode) => modeMatches(mode, input));
}

/** Whether a transition mode fires. Only `all` fires for non-terminal transitions. */
export function modeMatches(mode: TransitionMode, { to, previous }: RoutingInput): boolean {
  if (mode === 'all') return true;
  if (!isTerminal(to)) return false;
  const now = outcome(to);
  const before = previous ? outcome(previous) : undefined;
  switch (mode) {
    case 'passing':
      return now === 'passing';
    case 'failing':
      return now === 'failing';
    case 'change':
      return before !== undefined && before !== now;
    case 'problem':
      return now === 'failing' && before === 'passing';
    case 'recovered':
      return now === 'passing' && before === 'failing';
  }
}

/** Whether a transition needs the previous deployment's status to be routed. */
export function needsPrevious(config: ShipcastConfig, to: Status): boolean {
  return isTerminal(to) && config.routes.some((route) => route.on.some((mode) => mode !== 'all'));
}

function globsMatch(patterns: string | string[] | undefined, value: string): boolean {
  if (patterns === undefined) return true;
  const list = Array.isArray(patterns) ? patterns : [patterns];
  return list.some((pattern) => globToRegExp(pattern).test(value));
}

const cache = new Map<string, RegExp>();

/** `*` matches any run of characters, `?` one character; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  let regex = cache.get(pattern);
  if (!regex) {
    const body = pattern
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`);
    cache.set(pattern, regex);
  }
  return regex;
}
