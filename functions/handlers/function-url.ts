/**
 * The Lambda function URL transport (payload format 2.0) for a fetch-style app: the event becomes a `Request`,
 * the `Response` becomes the function URL result. Only what a function URL sends is handled (not API Gateway
 * REST, ALB or streaming), which keeps the API bundle small.
 * https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
 */

/** The parts of a function URL request event the API reads. */
export interface FunctionUrlEvent {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  /** Function URLs move `Cookie` headers here. */
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { domainName?: string; http: { method: string } };
}

/** What a function URL returns to its caller. */
export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

const TEXT = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)/i;

/**
 * Answers one function URL event with `fetch`. A request the fetch API cannot represent (a header value
 * outside Latin-1, a malformed path) is answered 400 naming the problem, before the app sees it.
 */
export async function serveFunctionUrl(
  event: FunctionUrlEvent,
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<FunctionUrlResult> {
  let request: Request;
  try {
    request = requestFrom(event);
  } catch (error) {
    return resultOf(
      Response.json(
        { error: 'invalid_request', message: `the request cannot be read: ${(error as Error).message}` },
        { status: 400 },
      ),
    );
  }
  return resultOf(await fetch(request));
}

function requestFrom(event: FunctionUrlEvent): Request {
  const method = event.requestContext.http.method.toUpperCase();
  const headers = new Headers();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value === undefined) continue;
    try {
      headers.set(name, value);
    } catch {
      throw new Error(`header ${JSON.stringify(name.slice(0, 64))} has a value HTTP cannot carry`);
    }
  }
  if (event.cookies?.length) headers.set('cookie', event.cookies.join('; '));
  const host = event.requestContext.domainName ?? headers.get('host') ?? 'localhost';
  const query = event.rawQueryString ? `?${event.rawQueryString}` : '';
  const url = new URL(`https://${host}${event.rawPath.startsWith('/') ? '' : '/'}${event.rawPath}${query}`);
  const withBody = method !== 'GET' && method !== 'HEAD' && event.body !== undefined;
  return new Request(url, {
    method,
    headers,
    body: withBody ? (event.isBase64Encoded ? Buffer.from(event.body!, 'base64') : event.body) : undefined,
  });
}

async function resultOf(response: Response): Promise<FunctionUrlResult> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  const bytes = Buffer.from(await response.arrayBuffer());
  const text = TEXT.test(response.headers.get('content-type') ?? 'text/plain');
  return {
    statusCode: response.status,
    headers,
    ...(cookies.length > 0 ? { cookies } : {}),
    body: bytes.toString(text ? 'utf8' : 'base64'),
    isBase64Encoded: !text,
  };
}
