import AjvCompiler from '@fastify/ajv-compiler';
import { AnnounceRequest } from './api-schema.ts';
import type { BodyValidator } from './fast-announce.ts';

/** The tracker's Ajv options (fastify's `ajv.customOptions` in app.ts). */
export const TRACKER_AJV_OPTIONS = {
  removeAdditional: false,
  coerceTypes: 'array',
  allErrors: false,
} as const;

/**
 * The announce body validator, compiled the way fastify compiles route schemas (its own Ajv compiler
 * with its defaults and ajv-formats, plus the tracker's options). The route hands it to fastify as the
 * route's validator and the fast path calls it directly: one function, one behaviour.
 */
export function compileAnnounceValidator(): BodyValidator {
  const compile = AjvCompiler()({}, { customOptions: { ...TRACKER_AJV_OPTIONS } });
  return compile({
    schema: AnnounceRequest,
    method: 'POST',
    url: '/v1/announce',
    httpPart: 'body',
  }) as BodyValidator;
}
