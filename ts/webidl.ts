// The argument checks and conversions the native WebSocket applies (WHATWG
// WebSockets and WebIDL), so BroadcastWebsocket throws what WebSocket throws.

/** A DOMException named like the one the native WebSocket throws. */
export function domError(
  message: string,
  name: 'SyntaxError' | 'InvalidStateError' | 'InvalidAccessError',
): DOMException {
  return new DOMException(message, name);
}

/** Parses a WebSocket URL: resolves it, maps http(s) to ws(s), refuses other schemes and fragments. */
export function parseWebSocketUrl(url: unknown, className: string): URL {
  const text = String(url);
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

/** Converts and checks subprotocols as `new WebSocket(url, protocols)` does. */
export function parseProtocols(protocols: unknown, className: string): string[] {
  if (protocols === undefined) return [];
  const list =
    typeof protocols === 'object' && protocols !== null && Symbol.iterator in protocols
      ? Array.from(protocols as Iterable<unknown>, String)
      : [String(protocols)];
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

/** WebIDL `[Clamp] unsigned short`. */
export function clampUnsignedShort(value: unknown): number {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 65535);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  // Round half to even, as WebIDL's [Clamp] does.
  if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/** WebIDL `USVString`: lone surrogates become U+FFFD. */
export function toUsvString(value: unknown): string {
  const text = String(value);
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

/** `close(code, reason)` argument checks, in the native order: code first. */
export function checkClose(code: unknown, reason: unknown, className: string): { code?: number; reason: string } {
  let checkedCode: number | undefined;
  if (code !== undefined) {
    checkedCode = clampUnsignedShort(code);
    if (checkedCode !== 1000 && !(checkedCode >= 3000 && checkedCode <= 4999)) {
      throw domError(
        `Failed to execute 'close' on '${className}': The close code must be either 1000, or between 3000 and 4999. ${checkedCode} is neither.`,
        'InvalidAccessError',
      );
    }
  }
  const checkedReason = reason === undefined ? '' : toUsvString(reason);
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
