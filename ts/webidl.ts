// The argument checks and conversions the native WebSocket applies (WHATWG
// WebSockets and WebIDL), so BroadcastWebsocket throws what WebSocket throws.

/** A DOMException named like the one the native WebSocket throws (or, for a full send queue, a
 * `QuotaExceededError`, as the Web platform names a bound exceeded). */
export function domError(
  message: string,
  name: 'SyntaxError' | 'InvalidStateError' | 'InvalidAccessError' | 'QuotaExceededError',
): DOMException {
  return new DOMException(message, name);
}

/** WebIDL `DOMString`: like String(), but a Symbol throws a TypeError, as natively. */
export function domString(value: unknown): string {
  return `${value as string}`;
}

/** Parses a WebSocket URL (already converted): resolves it, maps http(s) to ws(s), refuses other schemes and fragments. */
export function parseWebSocketUrl(text: string, className: string): URL {
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  let parsed: URL;
  try {
    parsed = new URL(text, base);
  } catch {
    throw domError(`Failed to construct '${className}': The URL '${text}' is invalid.`, 'SyntaxError');
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    const scheme = parsed.protocol.slice(0, -1);
    throw domError(
      `Failed to construct '${className}': The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. '${scheme}' is not allowed.`,
      'SyntaxError',
    );
  }
  // `hash` is '' for both "no fragment" and an empty one; the serialisation tells them apart.
  if (parsed.href.includes('#')) {
    throw domError(
      `Failed to construct '${className}': The URL contains a fragment identifier ('${parsed.hash.slice(1)}'). Fragment identifiers are not allowed in WebSocket URLs.`,
      'SyntaxError',
    );
  }
  return parsed;
}

// RFC 7230 token characters: visible ASCII except separators.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Converts subprotocols as `new WebSocket(url, protocols)` does: a sequence or one string. */
export function convertProtocols(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  return typeof protocols === 'object' && protocols !== null && Symbol.iterator in protocols
    ? Array.from(protocols as Iterable<unknown>, domString)
    : [domString(protocols)];
}

/** Checks converted subprotocols: tokens, no duplicates. */
export function checkProtocols(list: string[], className: string): string[] {
  const seen = new Set<string>();
  for (const protocol of list) {
    if (!TOKEN.test(protocol)) {
      throw domError(`Failed to construct '${className}': The subprotocol '${protocol}' is invalid.`, 'SyntaxError');
    }
    if (seen.has(protocol)) {
      throw domError(`Failed to construct '${className}': The subprotocol '${protocol}' is duplicated.`, 'SyntaxError');
    }
    seen.add(protocol);
  }
  return list;
}

/** `[Clamp] unsigned short` as Chromium converts it: NaN is 0, fractions are truncated. */
export function clampUnsignedShort(value: unknown): number {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  return Math.trunc(Math.min(Math.max(number, 0), 65535));
}

/** WebIDL `USVString`: lone surrogates become U+FFFD. */
export function toUsvString(value: unknown): string {
  const text = domString(value);
  return text.toWellFormed
    ? text.toWellFormed()
    : text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The UTF-8 length of a well-formed string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair is one 4-byte code point (the string is well-formed).
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * `close(code, reason)`: both arguments converted first, then checked, code first. As in
 * Chromium, trailing `undefined`s are absent arguments, but an `undefined` code before a
 * reason is converted (to 0, an invalid code).
 */
export function checkClose(code: unknown, reason: unknown, className: string): { code?: number; reason: string } {
  const codePresent = code !== undefined || reason !== undefined;
  const checkedCode = codePresent ? clampUnsignedShort(code) : undefined;
  const checkedReason = reason === undefined ? '' : toUsvString(reason);
  if (checkedCode !== undefined) {
    if (checkedCode !== 1000 && !(checkedCode >= 3000 && checkedCode <= 4999)) {
      throw domError(
        `Failed to execute 'close' on '${className}': The close code must be either 1000, or between 3000 and 4999. ${checkedCode} is neither.`,
        'InvalidAccessError',
      );
    }
  }
  if (utf8Length(checkedReason) > 123) {
    throw domError(
      `Failed to execute 'close' on '${className}': The close reason must not be greater than 123 UTF-8 bytes.`,
      'SyntaxError',
    );
  }
  return { code: checkedCode, reason: checkedReason };
}

const tag = (value: unknown) => Object.prototype.toString.call(value);

/** `ArrayBuffer` from any realm (an iframe's buffers fail `instanceof`). */
export const isArrayBuffer = (value: unknown): value is ArrayBuffer => tag(value) === '[object ArrayBuffer]';

/** `Blob` (or `File`) from any realm. */
export const isBlob = (value: unknown): value is Blob =>
  tag(value) === '[object Blob]' || tag(value) === '[object File]';
