import { execFileSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringToSign } from '../../functions/core/sources/sns-http.ts';

/** Ids that are unique within a run, never by chance. */
let messageCounter = 0;

export const SNS_TOPIC = 'arn:aws:sns:eu-west-2:123456789012:shipcast-codedeploy';
export const SNS_CERT_URL =
  'https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';

/** A self-signed certificate and its key, made with openssl (standing in for SNS's signing certificate). */
export function selfSignedCertificate(commonName = 'sns.amazonaws.com'): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-sns-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return {
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
  };
}

/**
 * An SNS Notification envelope for `message`, signed with `key` as SNS signs (SignatureVersion 1 or 2 over
 * the canonical string). `fields` override any envelope field before signing.
 */
export function signedSnsEnvelope(
  message: string,
  key: string,
  timestamp: string,
  fields: Record<string, unknown> = {},
  version: '1' | '2' = '2',
): Record<string, unknown> {
  const envelope: Record<string, unknown> = {
    Type: 'Notification',
    MessageId: `m-${++messageCounter}`,
    TopicArn: SNS_TOPIC,
    Subject: 'SUCCEEDED: AWS CodeDeploy d-4F2KQ8ZX1 in eu-west-2 to checkout',
    Message: message,
    Timestamp: timestamp,
    SignatureVersion: version,
    SigningCertURL: SNS_CERT_URL,
    ...fields,
  };
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(stringToSign(envelope as never));
  return { ...envelope, Signature: signer.sign(key, 'base64') };
}
