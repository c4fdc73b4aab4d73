// The sender: broadcasts chat messages to ?channel= (default "chat") and marks each one once the
// server acknowledges it.
import { openChannels } from './channels.js';

const channel = new URLSearchParams(location.search).get('channel') ?? 'chat';
const $ = (id) => document.getElementById(id);
const pending = new Map(); // messageId → its line in the list

const channels = openChannels([], {
  onAck(messageId) {
    const line = pending.get(messageId);
    if (!line) return; // another tab's broadcast
    line.dataset.state = 'acknowledged';
    pending.delete(messageId);
  },
  onError: (frame) => console.warn('server error', frame.data),
});

$('send').addEventListener('submit', (event) => {
  event.preventDefault();
  const line = document.createElement('li');
  line.textContent = $('text').value;
  line.dataset.state = 'sent';
  try {
    pending.set(channels.broadcast(channel, { user: $('user').value, text: $('text').value }), line);
  } catch (error) {
    line.dataset.state = 'failed';
    line.title = `${error.name}: ${error.message}`;
  }
  $('sent').prepend(line);
  $('text').value = '';
});
