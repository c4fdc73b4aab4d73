// An overlay widget: shows the messages of one channel in one of three looks, through the channels
// client (broadcast-websocket/channels): every widget, tab and iframe of the browser shares one
// connection to the service, and the server is asked to subscribe once for all of them.
import { createChannelsClient } from 'broadcast-websocket/channels';

const params = new URLSearchParams(location.search);
const channel = params.get('channel') ?? 'chat';
const look = params.get('look') ?? 'chat';
const root = document.getElementById('widget');
const state = document.getElementById('state');
document.body.dataset.look = look;
// ?scene=1 paints a dark backdrop, for a widget opened in a tab of its own rather than in OBS.
if (params.has('scene')) document.body.classList.add('scene');

const LOOKS = {
  /** The last 8 messages, newest at the bottom. */
  chat(message) {
    const line = document.createElement('p');
    const who = document.createElement('b');
    who.textContent = message.user ?? 'anonymous';
    line.append(who, ` ${message.text ?? ''}`);
    root.append(line);
    while (root.children.length > 8) root.firstElementChild.remove();
  },
  /** The newest message, alone. */
  ticker(message) {
    root.textContent = `${message.user ?? 'anonymous'}: ${message.text ?? ''}`;
  },
  /** How many messages this widget has shown. */
  count() {
    root.textContent = String(Number(root.textContent || 0) + 1);
  },
};
const show = LOOKS[look] ?? LOOKS.chat;
if (look === 'count') root.textContent = '0';

const states = ['connecting', 'open', 'closing', 'closed'];
const client = createChannelsClient(new URL('/ws', location.href.replace(/^http/, 'ws')));
client.subscribe(channel, (data) => show(data ?? {}));
const showState = () => (state.dataset.state = states[client.readyState]);
client.addEventListener('statechange', showState);
showState();
// For the demo's end-to-end test: the widget's socket, to read status() from.
window.widgetSocket = client.socket;
