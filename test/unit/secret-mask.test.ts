import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../functions/core/http-client.ts';
import { maskSecrets, registerSecret } from '../../functions/core/secret-mask.ts';

/** Every run of `length` characters of `secret`. */
const runsOf = (secret: string, length = 8) =>
  Array.from({ length: secret.length - length + 1 }, (_, i) => secret.slice(i, i + length));

describe('secret masking', () => {
  it('masks every run of 8 or more characters of a secret, not only the whole value', () => {
    const secret = 'Zk3pQ9wXr7LmN2vB';
    registerSecret(secret);

    for (const run of runsOf(secret)) expect(maskSecrets(`echo: /x/${run}/y`)).toBe('echo: /x/****/y');
    expect(maskSecrets(`a ${secret.slice(2, 13)} b`)).toBe('a **** b');
    expect(maskSecrets(`${secret}${secret}`)).toBe('****');
    // Seven characters say too little to be masked without garbling ordinary text.
    expect(maskSecrets(`a ${secret.slice(0, 7)} b`)).toBe(`a ${secret.slice(0, 7)} b`);
  });

  it('masks the forms a secret is sent in: URL-encoded and JSON-escaped', () => {
    const secret = 'p@ss/w0rd"with+signs';
    registerSecret(secret);

    expect(maskSecrets(`q=${encodeURIComponent(secret)}`)).toBe('q=****');
    expect(maskSecrets(`{"k":${JSON.stringify(secret)}}`)).toBe('{"k":"****"}');
    expect(maskSecrets(secret.replaceAll('/', '\\/'))).toBe('****');
  });

  it('masks each path segment and query value of a secret URL wherever it appears, but not plain words', () => {
    const token = 'Wh00kS3cr3tK3yAbCdEfGhIj';
    registerSecret(`https://Hooks.Slack.com/services/T0ABCDEF1/B0ABCDEF2/${token}?sig=Sg9xY2Q3ZWFmNTc&v=2`);

    expect(maskSecrets(`404 Not Found: /services/T0ABCDEF1/B0ABCDEF2/${token}`)).toBe(
      '404 Not Found: /services/****/****/****',
    );
    expect(maskSecrets(`cannot POST ...${token.slice(5, 17)}... sig=Sg9xY2Q3ZWFm`)).toBe(
      'cannot POST ...****... sig=****',
    );
    // The host in another case and a query string do not let the token through URL redaction.
    const redacted = redactUrl(`https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/${token}?sig=x`);
    expect(redacted).toBe('https://hooks.slack.com/services/****/****/****');
    expect(maskSecrets('the services are up')).toBe('the services are up');
  });

  it('cuts long path segments of URLs that are not registered secrets, keeping plain words', () => {
    expect(redactUrl('https://example.com/hooks/k3y0123456789abcdefXYZ/deployments-of-the-service')).toBe(
      'https://example.com/hooks/k3y0…/deployments-of-the-service',
    );
  });
});
