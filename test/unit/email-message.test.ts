import { describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { type EmailConfig, emailConfigSchema } from '../../functions/core/targets/email.schema.ts';
import { encodedMailbox, escapeHtml, recipientsOf, renderEmail } from '../../functions/core/targets/email.ts';
import { isMailbox } from '../../functions/core/targets/email-address.ts';

const config = (extra: Record<string, unknown> = {}): EmailConfig =>
  emailConfigSchema.parse({
    type: 'email',
    from: 'deploys@example.com',
    to: ['team@example.com'],
    transport: { type: 'smtp', host: 'smtp.example.com' },
    ...extra,
  });

const deployment = (extra: Partial<Deployment> = {}): Deployment => ({
  id: 'dep_1',
  source: 'native',
  sourceDeploymentId: '1',
  service: 'checkout',
  environment: 'production',
  version: '1.4.2',
  status: 'succeeded',
  sourceStatus: 'succeeded',
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T10:05:00.000Z',
  transitions: [],
  rev: 1,
  ...extra,
});

describe('email recipients', () => {
  it('maps a user name through the lookup map first, then the lookup domain', () => {
    expect(
      recipientsOf(deployment({ actor: 'jdoe' }), config({ lookup: { jdoe: 'jane@example.com' } })).to,
    ).toEqual(['team@example.com', 'jane@example.com']);
    expect(recipientsOf(deployment({ actor: 'jdoe' }), config({ lookup: 'example.com' })).to).toEqual([
      'team@example.com',
      'jdoe@example.com',
    ]);
  });

  it('takes an address from the event only within allowedDomains, and says why it left one out', () => {
    const outside = recipientsOf(
      deployment({ actor: 'eve@evil.example' }),
      config({ allowedDomains: ['example.com'] }),
    );
    expect(outside.to).toEqual(['team@example.com']);
    expect(outside.dropped).toEqual(['the address "eve@evil.example" is not in allowedDomains; not mailed']);
    expect(
      recipientsOf(deployment({ actor: 'Ann@Example.com' }), config({ allowedDomains: ['example.com'] })).to,
    ).toEqual(['team@example.com', 'Ann@Example.com']);
  });

  it('never builds an address from a user name that is not one (spaces, @, angle brackets)', () => {
    for (const actor of ['a b', 'x@', '<evil@example.com>', 'bob\r\nBcc: eve@example.com']) {
      expect(recipientsOf(deployment({ actor }), config({ lookup: 'example.com' })).to).toEqual([
        'team@example.com',
      ]);
    }
  });

  it("uses the address a source recorded for the actor (GitLab's user email) when the name maps to none", () => {
    const gitlab = deployment({ actor: 'root', details: { actorEmail: 'admin@example.com' } });
    expect(recipientsOf(gitlab, config({ allowedDomains: ['example.com'] })).to).toEqual([
      'team@example.com',
      'admin@example.com',
    ]);
    // One address per person: the lookup by name wins, the recorded address is not added as well.
    expect(
      recipientsOf(gitlab, config({ lookup: 'corp.example', allowedDomains: ['example.com'] })).to,
    ).toEqual(['team@example.com', 'root@corp.example']);
    expect(recipientsOf(gitlab, config()).dropped).toEqual([
      'no address for the user "root" (see lookup)',
      'the address "admin@example.com" is not in allowedDomains; not mailed',
    ]);
  });

  it('mails each address once and no more than 50', () => {
    const to = Array.from({ length: 50 }, (_, i) => `user${i}@example.com`);
    const result = recipientsOf(
      deployment({ actor: 'USER1@example.com' }),
      config({ to, allowedDomains: ['example.com'] }),
    );
    expect(result.to).toHaveLength(50);
    expect(result.to.filter((a) => a.toLowerCase() === 'user1@example.com')).toHaveLength(1);
    expect(
      recipientsOf(deployment({ actor: 'extra' }), config({ to, lookup: 'example.com' })).dropped,
    ).toEqual(['1 recipients over 50 left out']);
  });

  it('uses nobody but the fixed list when interestedUsers is off', () => {
    expect(
      recipientsOf(deployment({ actor: 'jdoe' }), config({ interestedUsers: false, lookup: 'example.com' }))
        .to,
    ).toEqual(['team@example.com']);
  });
});

describe('email message', () => {
  it('escapes the five HTML characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('renders the subject on one line, cut to 250 characters', () => {
    const view = chatView(deployment({ description: 'd' }), {
      seq: 1,
      from: null,
      to: 'succeeded',
      at: '',
      eventId: 'e',
      targets: [],
    });
    const { subject } = renderEmail(view, {
      subject: '{{service}}\n{{description}} {{version}}'.padEnd(400, 'x'),
    });
    expect(subject).not.toContain('\n');
    expect([...subject].length).toBeLessThanOrEqual(250);
  });

  it('encodes a display name that is not ASCII for SES, and refuses header injection', () => {
    expect(encodedMailbox('Déploiements <deploys@example.com>')).toBe(
      `=?UTF-8?B?${Buffer.from('Déploiements').toString('base64')}?= <deploys@example.com>`,
    );
    expect(encodedMailbox('Shipcast <deploys@example.com>')).toBe('Shipcast <deploys@example.com>');
    expect(isMailbox('Shipcast <a@example.com>\r\nBcc: e@evil.example')).toBe(false);
    expect(isMailbox('a@example.com, e@evil.example')).toBe(false);
  });
});
