import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for CloudFormation's DescribeStacks, speaking its wire protocol (AWS Query: a form-encoded
 * `POST /` with `Action=DescribeStacks&StackName=…`, answered in XML; an unknown stack is a 400
 * `ValidationError` "Stack with id X does not exist"), so the CLI's real CloudFormationClient finds a stack's
 * outputs as it would in an account.
 */
export interface CloudFormationServer {
  endpoint: string;
  /** Outputs by stack name. */
  stacks: Map<string, Record<string, string>>;
  close(): Promise<void>;
}

const xmlEscape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Starts the fake on 127.0.0.1 on a random port. */
export async function startCloudFormationServer(): Promise<CloudFormationServer> {
  const stacks = new Map<string, Record<string, string>>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const ns = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
    res.setHeader('content-type', 'text/xml');
    if (form.get('Action') !== 'DescribeStacks') {
      res.statusCode = 400;
      res.end(
        `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unknown action</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
      );
      return;
    }
    const name = form.get('StackName') ?? '';
    const outputs = stacks.get(name);
    if (!outputs) {
      res.statusCode = 400;
      res.end(
        `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xmlEscape(name)} does not exist</Message></Error><RequestId>2</RequestId></ErrorResponse>`,
      );
      return;
    }
    const members = Object.entries(outputs)
      .map(
        ([key, value]) =>
          `<member><OutputKey>${xmlEscape(key)}</OutputKey><OutputValue>${xmlEscape(value)}</OutputValue></member>`,
      )
      .join('');
    res.end(
      `<DescribeStacksResponse xmlns="${ns}"><DescribeStacksResult><Stacks><member><StackName>${xmlEscape(name)}</StackName>` +
        `<StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks>` +
        `</DescribeStacksResult><ResponseMetadata><RequestId>3</RequestId></ResponseMetadata></DescribeStacksResponse>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stacks,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
