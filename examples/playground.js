// The playground: open a BroadcastWebsocket to any URL (the echo endpoint by default), send, and
// watch its events, its status() snapshot and the server's connection count.
import { BroadcastWebsocket } from '/dist/index.js';

const $ = (id) => document.getElementById(id);
let socket;

$('url').value = `ws://${location.host}/echo`;

function log(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(item);
}

function showStatus() {
  $('status').textContent = socket ? JSON.stringify(socket.status(), null, 2) : 'no socket yet';
}

async function showConnections() {
  try {
    const stats = await (await fetch('/stats')).json();
    $('connections').textContent = String(stats.connections);
  } catch {
    $('connections').textContent = '?';
  }
}

$('connect').addEventListener('submit', (event) => {
  event.preventDefault();
  socket?.close();
  try {
    socket = new BroadcastWebsocket($('url').value);
  } catch (error) {
    log(`constructor threw ${error.name}: ${error.message}`);
    return;
  }
  socket.addEventListener('open', () => log(`open (protocol "${socket.protocol}")`));
  socket.addEventListener('message', (e) => log(`message: ${typeof e.data === 'string' ? e.data : '[binary]'}`));
  socket.addEventListener('error', () => log('error'));
  socket.addEventListener('close', (e) => log(`close ${e.code} "${e.reason}" wasClean=${e.wasClean}`));
});

$('close').addEventListener('click', () => socket?.close(1000, 'closed from the demo'));

$('send').addEventListener('submit', (event) => {
  event.preventDefault();
  try {
    socket?.send($('text').value);
  } catch (error) {
    log(`send threw ${error.name}: ${error.message}`);
  }
});

setInterval(() => {
  showStatus();
  showConnections();
}, 500);
