// The demo's studio page: widget iframes, and the server's live counts from GET /stats.
const $ = (id) => document.getElementById(id);
const LOOKS = ['chat', 'ticker', 'count'];
let added = 0;

function addWidget() {
  const look = LOOKS[added % LOOKS.length];
  const frame = document.createElement('iframe');
  frame.name = `widget-${added}`;
  frame.title = `${look} widget`;
  frame.src = `widget.html?channel=chat&look=${look}`;
  frame.className = 'widget-frame';
  $('widgets-grid').append(frame);
  $('widgets').textContent = String(++added);
}

async function showStats() {
  try {
    const stats = await (await fetch('/stats')).json();
    $('connections').textContent = String(stats.channels?.connections ?? '?');
    $('subscribers').textContent = String(stats.channels?.subscriptions?.chat ?? 0);
  } catch {
    $('connections').textContent = '?';
  }
}

$('add').addEventListener('click', addWidget);
for (let k = 0; k < 3; k++) addWidget();
showStats();
setInterval(showStats, 500);
