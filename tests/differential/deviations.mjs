// Every declared difference between BroadcastWebsocket's trace and the native WebSocket's, in one
// place, one line of reason each (the source of README's deviations table). The differential test
// fails if a trace differs in any other way, and also if a declared difference does not occur
// exactly as declared (so a deviation that gets fixed, or changes, is noticed).
//
//   scenario    the scenario's name (tests/pages/differential/scenarios.js)
//   modes       'leader' and/or 'follower'
//   reason      why the library differs on purpose
//   differences { key, native: {fields}, library: {fields} }: fields of one trace entry that differ;
//               { key, only: 'native' | 'library', fields? }: an entry present in one trace only;
//               { key, after: { native, library } }: an entry of both traces, right after another key.
//               Keys and values are those of the normalised traces (ports as PORT, UNUSED_PORT).

const BOTH = ['leader', 'follower'];

export const DEVIATIONS = [
  {
    scenario: 'construct: plain object as second argument',
    modes: BOTH,
    reason: 'a plain object as second argument is read as the options, not converted to a protocol string',
    differences: [
      {
        key: 'new throws("ws://127.0.0.1:PORT/echo", [object Object])',
        native: { threw: 'SyntaxError (DOMException 12)' },
        library: {
          threw: null,
          readyState: 0,
          bufferedAmount: 0,
          binaryType: 'blob',
          protocol: '',
          extensions: '',
          url: 'ws://127.0.0.1:PORT/echo',
        },
      },
    ],
  },
  {
    scenario: 'events: event object properties',
    modes: BOTH,
    reason: 'events are dispatched by script (EventTarget.dispatchEvent), so isTrusted is false',
    differences: ['open', 'message', 'close'].map((type) => ({
      key: `inspect ${type}`,
      native: { isTrusted: true },
      library: { isTrusted: false },
    })),
  },
  {
    scenario: 'events: microtasks queued by a listener',
    modes: BOTH,
    reason:
      'events are dispatched by script, so microtasks queued by a listener run after the last listener, not before the next',
    differences: ['open', 'message', 'close'].map((type) => ({
      key: `${type} microtask of listener A`,
      after: { native: `${type} listener A`, library: `${type} listener B` },
    })),
  },
  {
    scenario: 'attributes: Object.prototype.toString (Symbol.toStringTag)',
    modes: BOTH,
    reason:
      "the class's own name, as every platform class answers with its own (instanceof WebSocket is false as well); the descriptor is native",
    differences: [
      {
        key: 'Object.prototype.toString.call(ws)',
        native: { value: '[object WebSocket]' },
        library: { value: '[object BroadcastWebsocket]' },
      },
      { key: '`${ws}`', native: { value: '[object WebSocket]' }, library: { value: '[object BroadcastWebsocket]' } },
    ],
  },
  {
    scenario: 'shared scope: two instances of one URL, one request each',
    modes: BOTH,
    reason:
      "instances that share a scope share one socket, so each reads every instance's replies (give each its own `scope`, or correlate replies by id)",
    differences: [{ key: 'b reads first', native: { value: 'request of b' }, library: { value: 'request of a' } }],
  },
  {
    scenario: 'close: while the server is closing',
    modes: ['follower'],
    reason:
      "a follower's close() ends only its instance at once, with its own code and reason, while the shared socket stays open",
    differences: [
      {
        key: 'ws.close',
        native: { code: 4001, reason: 'server first' },
        library: { code: 4000, reason: 'client' },
      },
    ],
  },
];

/**
 * Known gaps, per engine: scenarios in which the library still behaves as Chromium's WebSocket, not as
 * this engine's own. They run as todo there (reported by name, not failing the run) until the library
 * follows the engine it runs in.
 */
const CHROMIUM_CONVERSIONS = 'the library converts arguments as Chromium does; this engine does otherwise';
export const ENGINE_GAPS = {
  firefox: {
    'construct: relative URLs': `new WebSocket("") throws SyntaxError in Firefox, resolves to the page in Chromium`,
    'close: valid codes and reasons (123 bytes)': `${CHROMIUM_CONVERSIONS}: Firefox rounds fractional close codes`,
    'close: a reason without a code': 'Firefox accepts close(undefined, reason); Chromium throws InvalidAccessError',
  },
  webkit: {
    'construct: absolute URLs that fail to connect':
      "WebKit's error for a blocked port or port 0 comes while readyState is still CONNECTING; the library's" +
      ' leader reports CLOSED, and a follower gets neither error nor close (left CONNECTING)',
    ...Object.fromEntries(
      [
        'send: while CLOSING and CLOSED adds to bufferedAmount',
        'close: while CONNECTING',
        'server close: 4001',
        'server close: 1000',
        'server close: 1011',
        'server close: 3000 (123-byte reason)',
        'server close: abrupt TCP drop (1006, no error)',
        'connection refused',
      ].map((name) => [
        name,
        'WebKit\'s bufferedAmount after closing counts each frame\'s header too (send("abc") adds 9); the' +
          ' library counts the payload bytes, as Chromium does',
      ]),
    ),
    'close: a reason without a code': 'WebKit accepts close(undefined, reason); Chromium throws InvalidAccessError',
  },
};
