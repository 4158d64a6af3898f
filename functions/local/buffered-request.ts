import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/**
 * A Lambda function URL (BUFFERED invoke mode) takes at most 6 MB of request
 * (https://docs.aws.amazon.com/lambda/latest/dg/config-rs-invoke-furls.html) and hands the function the whole
 * body at once.
 */
export const FUNCTION_URL_MAX_BODY_BYTES = 6 * 1024 * 1024;
/** Bytes of an over-limit body read and thrown away before the connection is cut instead. */
const MAX_DISCARDED_BYTES = 64 * 1024 * 1024;

/**
 * Wraps the local API server's listener so that it receives requests as the function URL delivers them: the
 * body read to its end first (into `rawBody`, which @hono/node-server reads), never a stream the app stops
 * reading. A route that refuses a body (413) then answers a client that has finished sending, which reads
 * the answer; answering while the client still sends and closing made it see a reset instead. A body over
 * the function URL's limit is read to its end, discarded, and answered 413 as the function URL does.
 */
export function bufferedRequests(listener: RequestListener): RequestListener {
  return (incoming, outgoing) => {
    if (incoming.method === 'GET' || incoming.method === 'HEAD') {
      listener(incoming, outgoing);
      return;
    }
    readBody(incoming).then(
      (body) => {
        if (body === 'too large') return tooLarge(outgoing);
        (incoming as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
        listener(incoming, outgoing);
      },
      () => incoming.socket.destroy(),
    );
  };
}

async function readBody(incoming: IncomingMessage): Promise<Buffer | 'too large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += (chunk as Buffer).length;
    if (size > MAX_DISCARDED_BYTES) throw new Error('request body too large to discard');
    if (size <= FUNCTION_URL_MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > FUNCTION_URL_MAX_BODY_BYTES ? 'too large' : Buffer.concat(chunks);
}

function tooLarge(outgoing: ServerResponse): void {
  outgoing.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  outgoing.end(
    JSON.stringify({
      error: 'payload_too_large',
      message: `the function URL takes request bodies of at most ${FUNCTION_URL_MAX_BODY_BYTES} bytes`,
    }),
  );
}
