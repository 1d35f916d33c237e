import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentAnnounce } from './announce.ts';
import type { AnnounceRequest } from './api-schema.ts';
import type { ErrorAnswer } from './error-answer.ts';
import { TrackerError } from './errors.ts';

/** The announce body validator the fastify route uses too (one compiled function, one behaviour). */
export interface BodyValidator {
  (data: unknown, context?: { parentData: object; parentDataProperty: string }): boolean;
  errors?: Array<{ instancePath?: string; message?: string }> | null;
}

/** Fastify's own JSON body parser (`app.getDefaultJsonParser`), prototype-poisoning checks included. */
export type JsonBodyParser = (
  request: never,
  body: string,
  done: (error: Error | null, value?: unknown) => void,
) => void;

export interface FastAnnounceOptions {
  announce: AgentAnnounce;
  validate: BodyValidator;
  parseJson: JsonBodyParser;
  /** The rate limiter the fastify `onRequest` hook uses, when one is configured. */
  limiter: { allow(key: string): boolean } | null;
  trustProxy: boolean;
  bodyLimit: number;
  /** The tracker's error answer (error-answer.ts), bound to its metrics and logger. */
  refusal: (error: Error, url: string) => ErrorAnswer;
}

/** Takes the request (true) or leaves it to fastify (false, nothing read). */
export type FastAnnounceHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

const JSON_TYPE = /^application\/json\s*(?:;\s*charset=utf-8\s*)?$/i;
const DIGITS = /^\d{1,9}$/;

/**
 * The address fastify reports as `request.ip`: with `trustProxy` the left-most X-Forwarded-For entry
 * (what @fastify/proxy-addr answers when every hop is trusted), else the socket's peer address.
 */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  const socketAddress = request.socket.remoteAddress ?? '';
  if (!trustProxy) return socketAddress;
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return socketAddress;
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    let start = 0;
    let end = part.length;
    while (start < end && (part[start] === ' ' || part[start] === '\t')) start++;
    while (end > start && (part[end - 1] === ' ' || part[end - 1] === '\t')) end--;
    if (end > start) return part.slice(start, end);
  }
  return socketAddress;
}

/** Fastify's default wording of a body validation failure (its schemaErrorFormatter). */
function validationError(errors: NonNullable<BodyValidator['errors']>): Error {
  const text = errors.map((e) => `body${e.instancePath ?? ''} ${e.message}`).join(', ');
  return Object.assign(new Error(text), { statusCode: 400, code: 'FST_ERR_VALIDATION', validation: errors });
}

/**
 * POST /v1/announce straight on node:http, in front of fastify (its `serverFactory`): the hottest
 * route skips the router, hook chain, request/reply objects and promise plumbing, while its steps
 * stay the route's own — the same rate limiter, fastify's JSON parser, the route's compiled body
 * validator, the same announce function and the same error answers. Anything unusual (other
 * content types, chunked or compressed bodies, oversized bodies, query strings) is left to fastify.
 */
export function createFastAnnounce(options: FastAnnounceOptions): FastAnnounceHandler {
  const { announce, validate, parseJson, limiter, trustProxy, bodyLimit, refusal } = options;

  const answer = (response: ServerResponse, status: number, type: string, body: string | Buffer) => {
    response.writeHead(status, {
      'content-type': type,
      'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    });
    response.end(body);
  };
  const refuse = (response: ServerResponse, error: Error, url: string) => {
    const a = refusal(error, url);
    if (Buffer.isBuffer(a.body)) answer(response, a.status, a.contentType ?? 'text/plain', a.body);
    else answer(response, a.status, 'application/json; charset=utf-8', JSON.stringify(a.body));
  };

  const handleBody = (response: ServerResponse, url: string, ip: string, text: string) => {
    let parsed: unknown;
    let parseError: Error | null = null;
    parseJson(undefined as never, text, (error, value) => {
      parseError = error;
      parsed = value;
    });
    if (parseError !== null) return refuse(response, parseError, url);
    // As fastify calls it: Ajv may replace the root value through its parent.
    const holder = { body: parsed };
    if (!validate(parsed, { parentData: holder, parentDataProperty: 'body' }))
      return refuse(response, validationError(validate.errors ?? []), url);
    announce(holder.body as AnnounceRequest, ip).then(
      (json) => answer(response, 200, 'application/json; charset=utf-8', json),
      (error: Error) => refuse(response, error, url),
    );
  };

  return (request, response) => {
    if (request.method !== 'POST' || request.url !== '/v1/announce') return false;
    const headers = request.headers;
    const length = headers['content-length'];
    const type = headers['content-type'];
    if (
      length === undefined ||
      !DIGITS.test(length) ||
      Number(length) > bodyLimit ||
      type === undefined ||
      !JSON_TYPE.test(type) ||
      headers['transfer-encoding'] !== undefined ||
      headers['content-encoding'] !== undefined
    )
      return false;
    const url = request.url;
    const ip = clientAddress(request, trustProxy);
    if (limiter !== null && !limiter.allow(ip)) {
      refuse(response, new TrackerError('RATE_LIMITED', 'too many requests; slow down'), url);
      return true;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', () => request.destroy());
    request.on('end', () => {
      const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
      handleBody(response, url, ip, text);
    });
    return true;
  };
}
