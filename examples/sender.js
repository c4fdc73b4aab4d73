// The sender: broadcasts chat messages to ?channel= (default "chat") through the channels client
// (broadcast-websocket/channels) and marks each one once the server acknowledges it.
import { createChannelsClient } from 'broadcast-websocket/channels';

const channel = new URLSearchParams(location.search).get('channel') ?? 'chat';
const $ = (id) => document.getElementById(id);
const client = createChannelsClient(new URL('/ws', location.href.replace(/^http/, 'ws')));

$('send').addEventListener('submit', (event) => {
  event.preventDefault();
  const line = document.createElement('li');
  line.textContent = $('text').value;
  line.dataset.state = 'sent';
  client.broadcast(channel, { user: $('user').value, text: $('text').value }).then(
    () => (line.dataset.state = 'acknowledged'),
    (error) => {
      line.dataset.state = 'failed';
      line.title = `${error.name} (${error.code}): ${error.message}`;
    },
  );
  $('sent').prepend(line);
  $('text').value = '';
});
