import { describe, expect, it } from 'vitest';
import { parseConfig, type ShipcastConfig, TRANSITION_MODES } from '../../functions/core/config.ts';
import {
  globToRegExp,
  modeMatches,
  needsPrevious,
  type RoutingInput,
  routeTransition,
} from '../../functions/core/routing.ts';
import { STATUSES, type Status } from '../../functions/core/status.ts';

/** A config with log targets `a`…`e` and the given routes. */
function config(routes: unknown[]): ShipcastConfig {
  return parseConfig({
    api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
    targets: Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((n) => [n, { type: 'log' }])),
    routes,
  });
}

function input(
  overrides: Partial<RoutingInput['deployment']> = {},
  to: Status = 'succeeded',
  previous?: Status,
) {
  return {
    deployment: { service: 'checkout', environment: 'production', source: 'native', ...overrides },
    to,
    previous,
  };
}

const routedFor = (match: Record<string, unknown>, facts: Partial<RoutingInput['deployment']>) =>
  routeTransition(config([{ match, targets: ['a'] }]), input(facts)).length === 1;

describe('globs', () => {
  it('matches `*` against any run of characters, including none', () => {
    expect(globToRegExp('checkout-*').test('checkout-api')).toBe(true);
    expect(globToRegExp('checkout-*').test('checkout-')).toBe(true);
    expect(globToRegExp('checkout-*').test('checkout')).toBe(false);
    expect(globToRegExp('*').test('')).toBe(true);
    expect(globToRegExp('*-api-*').test('eu-api-prod')).toBe(true);
    expect(globToRegExp('*-api-*').test('eu-web-prod')).toBe(false);
  });

  it('matches `?` against exactly one character', () => {
    expect(globToRegExp('prod-?').test('prod-1')).toBe(true);
    expect(globToRegExp('prod-?').test('prod-')).toBe(false);
    expect(globToRegExp('prod-?').test('prod-12')).toBe(false);
  });

  it('anchors the whole value: a glob without wildcards is an exact match', () => {
    expect(globToRegExp('prod').test('prod')).toBe(true);
    expect(globToRegExp('prod').test('production')).toBe(false);
    expect(globToRegExp('prod').test('preprod')).toBe(false);
  });

  it('treats dots and other regex characters literally', () => {
    expect(globToRegExp('api.v2').test('api.v2')).toBe(true);
    expect(globToRegExp('api.v2').test('apiXv2')).toBe(false);
    const odd = 'a+b(c)[d]{2}^$|\\e';
    expect(globToRegExp(odd).test(odd)).toBe(true);
    expect(globToRegExp('a+').test('aa')).toBe(false);
    expect(globToRegExp('[ab]').test('a')).toBe(false);
    expect(globToRegExp('x{2}').test('xx')).toBe(false);
    expect(globToRegExp('a|b').test('a')).toBe(false);
  });

  it('accepts a list of globs when any one of them matches', () => {
    expect(routedFor({ environment: ['staging', 'prod-*'] }, { environment: 'prod-eu' })).toBe(true);
    expect(routedFor({ environment: ['staging', 'prod-*'] }, { environment: 'staging' })).toBe(true);
    expect(routedFor({ environment: ['staging', 'prod-*'] }, { environment: 'dev' })).toBe(false);
  });
});

describe('route matching', () => {
  it('matches every deployment when the route has no match block', () => {
    expect(routedFor({}, { service: undefined, environment: undefined })).toBe(true);
  });

  it('matches on service', () => {
    expect(routedFor({ service: 'check*' }, { service: 'checkout' })).toBe(true);
    expect(routedFor({ service: 'check*' }, { service: 'billing' })).toBe(false);
  });

  it('matches on environment', () => {
    expect(routedFor({ environment: 'production' }, { environment: 'production' })).toBe(true);
    expect(routedFor({ environment: 'production' }, { environment: 'staging' })).toBe(false);
  });

  it('matches on source', () => {
    expect(routedFor({ source: 'codedeploy' }, { source: 'codedeploy' })).toBe(true);
    expect(routedFor({ source: 'codedeploy' }, { source: 'native' })).toBe(false);
  });

  it('does not match a named service or environment when the deployment has none, but `*` does', () => {
    expect(routedFor({ service: 'checkout' }, { service: undefined })).toBe(false);
    expect(routedFor({ service: '*' }, { service: undefined })).toBe(true);
    expect(routedFor({ environment: 'production' }, { environment: undefined })).toBe(false);
  });

  it('matches on the AWS account the deployment ran in', () => {
    expect(routedFor({ account: '111122223333' }, { account: '111122223333' })).toBe(true);
    expect(routedFor({ account: ['4444*', '1111*'] }, { account: '111122223333' })).toBe(true);
    expect(routedFor({ account: '111122223333' }, { account: '444455556666' })).toBe(false);
    expect(routedFor({ account: '111122223333' }, { account: undefined })).toBe(false);
  });

  it('matches on the AWS region the deployment ran in', () => {
    expect(routedFor({ region: 'eu-*' }, { region: 'eu-west-2' })).toBe(true);
    expect(routedFor({ region: 'eu-*' }, { region: 'us-east-1' })).toBe(false);
    expect(routedFor({ region: '*' }, { region: undefined })).toBe(true);
  });

  it('rejects an empty account or region list in the config, naming the field', () => {
    expect(() => config([{ match: { account: [] }, targets: ['a'] }])).toThrow(/routes\[0\]\.match\.account/);
    expect(() => config([{ match: { region: '' }, targets: ['a'] }])).toThrow(/routes\[0\]\.match\.region/);
  });

  it('requires every match field to match', () => {
    const match = {
      service: 'checkout',
      environment: 'production',
      source: 'native',
      account: '111122223333',
      region: 'eu-west-2',
    };
    const facts = { account: '111122223333', region: 'eu-west-2' };
    expect(routedFor(match, facts)).toBe(true);
    expect(routedFor(match, { ...facts, account: '444455556666' })).toBe(false);
    expect(routedFor(match, { ...facts, region: 'us-east-1' })).toBe(false);
    expect(routedFor({ service: 'checkout', environment: 'production', source: 'native' }, {})).toBe(true);
    expect(routedFor(match, { ...facts, service: 'billing' })).toBe(false);
    expect(routedFor(match, { ...facts, environment: 'staging' })).toBe(false);
    expect(routedFor(match, { ...facts, source: 'codedeploy' })).toBe(false);
  });

  it('matches on the status the transition goes to', () => {
    const routes = config([{ match: { status: ['failed', 'stopped'] }, targets: ['a'] }]);
    for (const to of STATUSES) {
      expect(routeTransition(routes, input({}, to)), to).toEqual(
        to === 'failed' || to === 'stopped' ? ['a'] : [],
      );
    }
  });

  it('lists routed targets once each, in config order', () => {
    const routes = config([
      { targets: ['c', 'a'] },
      { match: { service: 'nope' }, targets: ['e'] },
      { targets: ['a', 'b', 'c'] },
      { targets: ['d', 'b'] },
    ]);
    expect(routeTransition(routes, input())).toEqual(['c', 'a', 'b', 'd']);
  });

  it('routes nowhere when no route matches', () => {
    expect(routeTransition(config([{ match: { service: 'billing' }, targets: ['a'] }]), input())).toEqual([]);
  });
});

describe('transition modes', () => {
  /** Expected result per mode for a terminal `to` and `previous`. */
  const cases: { to: Status; previous?: Status; fires: string[] }[] = [
    { to: 'succeeded', fires: ['all', 'passing'] },
    { to: 'failed', fires: ['all', 'failing'] },
    { to: 'stopped', fires: ['all', 'failing'] },
    { to: 'succeeded', previous: 'succeeded', fires: ['all', 'passing'] },
    { to: 'succeeded', previous: 'failed', fires: ['all', 'passing', 'change', 'recovered'] },
    { to: 'succeeded', previous: 'stopped', fires: ['all', 'passing', 'change', 'recovered'] },
    { to: 'failed', previous: 'succeeded', fires: ['all', 'failing', 'change', 'problem'] },
    { to: 'stopped', previous: 'succeeded', fires: ['all', 'failing', 'change', 'problem'] },
    { to: 'failed', previous: 'failed', fires: ['all', 'failing'] },
    { to: 'failed', previous: 'stopped', fires: ['all', 'failing'] },
    { to: 'stopped', previous: 'failed', fires: ['all', 'failing'] },
  ];

  it.each(cases)('going to $to after $previous fires $fires', ({ to, previous, fires }) => {
    const fired = TRANSITION_MODES.filter((mode) => modeMatches(mode, input({}, to, previous)));
    expect(fired).toEqual(fires);
  });

  it.each([
    ['queued', undefined],
    ['in_progress', undefined],
    ['queued', 'failed'],
    ['in_progress', 'succeeded'],
    ['in_progress', 'failed'],
  ] as [Status, Status | undefined][])(
    'only `all` fires for a transition to %s (previous %s)',
    (to, previous) => {
      const fired = TRANSITION_MODES.filter((mode) => modeMatches(mode, input({}, to, previous)));
      expect(fired).toEqual(['all']);
    },
  );

  it('routes through a route whose modes list includes any mode that fires', () => {
    const routes = config([
      { on: ['problem', 'recovered'], targets: ['a'] },
      { on: ['passing'], targets: ['b'] },
      { targets: ['c'] },
    ]);
    expect(routeTransition(routes, input({}, 'failed', 'succeeded'))).toEqual(['a', 'c']);
    expect(routeTransition(routes, input({}, 'succeeded', 'failed'))).toEqual(['a', 'b', 'c']);
    expect(routeTransition(routes, input({}, 'succeeded', 'succeeded'))).toEqual(['b', 'c']);
    expect(routeTransition(routes, input({}, 'in_progress', 'failed'))).toEqual(['c']);
  });

  it('asks for the previous deployment only for terminal transitions of configs that use more than `all`', () => {
    const onlyAll = config([{ targets: ['a'] }]);
    const withChange = config([{ targets: ['a'] }, { on: ['change'], targets: ['b'] }]);
    expect(needsPrevious(onlyAll, 'failed')).toBe(false);
    expect(needsPrevious(withChange, 'failed')).toBe(true);
    expect(needsPrevious(withChange, 'in_progress')).toBe(false);
  });
});
