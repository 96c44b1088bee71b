/**
 * A registry's error answers as errors: the HTTP status, the registry's own codes and words
 * (the distribution spec's `{"errors": [{code, message, detail}]}`), and Docker's wording where
 * users know it (`manifest unknown`, `pull access denied …`).
 */
import type { IncomingMessage } from 'node:http';
import { OverlayError, type OverlayErrorCode } from '../spec/errors.js';

export interface RegistryErrorDetail {
  code: string;
  message: string;
}

export class RegistryError extends OverlayError {
  /** The HTTP status the registry answered with. */
  readonly status: number;
  /** The registry's errors (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED` …), as it sent them. */
  readonly errors: RegistryErrorDetail[];

  constructor(code: OverlayErrorCode, message: string, status: number, errors: RegistryErrorDetail[]) {
    super(code, message);
    this.name = 'RegistryError';
    this.status = status;
    this.errors = errors;
  }
}

const MAX_ERROR_BODY = 64 * 1024;

/** Reads an error response's body (at most 64 KiB) and parses the registry's error list from it. */
export async function readErrors(res: IncomingMessage): Promise<RegistryErrorDetail[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res) {
      size += (c as Buffer).length;
      if (size > MAX_ERROR_BODY) break;
      chunks.push(c as Buffer);
    }
  } catch {
    // A body cut short: what arrived is used.
  }
  res.destroy();
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    if (Array.isArray(doc.errors)) {
      return doc.errors.map((e) => ({ code: typeof e.code === 'string' ? e.code : 'UNKNOWN', message: typeof e.message === 'string' ? e.message : '' }));
    }
  } catch {
    // not JSON
  }
  const line = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
  return line === '' ? [] : [{ code: 'UNKNOWN', message: line }];
}

const NOT_FOUND = new Set(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UNKNOWN', 'NOT_FOUND']);

/** The error for a response that is not what was asked: its status, the registry's words, what was asked. */
export async function registryError(res: IncomingMessage, what: string): Promise<RegistryError> {
  const status = res.statusCode ?? 0;
  const errors = await readErrors(res);
  const words = errors.map((e) => `${e.code.toLowerCase().replace(/_/g, ' ')}${e.message && e.message.toLowerCase() !== e.code.toLowerCase().replace(/_/g, ' ') ? `: ${e.message}` : ''}`).join('; ');
  const notFound = status === 404 || errors.some((e) => NOT_FOUND.has(e.code));
  return new RegistryError(notFound ? 'ERR_NOT_FOUND' : 'ERR_REGISTRY', `${what}: ${words || `${status} ${res.statusMessage ?? ''}`.trim()}`, status, errors);
}
