// The Vite + React fixture of the packaging test, built by Vite from the packed package: one tab (or
// iframe) of an app under StrictMode. Query: ws (the channels service), echo (the echo endpoint),
// frames (how many iframes of the app this tab renders, named frame-0, frame-1…), news (also show
// the news channel), sync (also show a theme every document keeps equal with useBroadcastSync).
// Checkboxes unmount parts of it, as an app would.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { create } from 'zustand';
import {
  BroadcastProvider,
  useBroadcast,
  useBroadcastSocket,
  useBroadcastSync,
  useBroadcastWebsocket,
  useSubscription,
} from 'broadcast-websocket/react';

const params = new URLSearchParams(location.search);

/** One channel's messages, as useSubscription gives them. */
function Feed({ channel }) {
  const { data, messages, readyState } = useSubscription(channel, { maxMessages: 5 });
  return (
    <section className="feed" data-channel={channel} data-ready-state={readyState}>
      <p className="latest">{data?.text}</p>
      <ol>
        {messages.map((message, k) => (
          <li key={k}>{message.data.text}</li>
        ))}
      </ol>
    </section>
  );
}

/** Broadcasts the form's text on its channel with useBroadcast, and lists the acks. */
function Sender() {
  const broadcast = useBroadcast();
  const [acks, setAcks] = useState([]);
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    broadcast(form.get('channel'), { text: form.get('text') }).then(
      (ack) => setAcks((list) => [...list, ack.duplicate ? 'duplicate' : 'acked']),
      (error) => setAcks((list) => [...list, `${error.name}: ${error.code}`]),
    );
  };
  return (
    <form id="sender" onSubmit={submit}>
      <input name="channel" defaultValue="chat" />
      <input name="text" />
      <output id="acks">{acks.join(' ')}</output>
    </form>
  );
}

/** The shared socket's state, from useBroadcastSocket. */
function SocketState() {
  const { readyState, status } = useBroadcastSocket();
  return <p id="socket" data-ready-state={readyState} data-leader={String(status?.isLeader ?? false)} />;
}

/** The app's own protocol over a shared socket (the echo endpoint), with useBroadcastWebsocket. */
function Echo({ url }) {
  const { readyState, lastMessage, send } = useBroadcastWebsocket(url);
  const submit = (event) => {
    event.preventDefault();
    send(new FormData(event.currentTarget).get('text'));
  };
  return (
    <form id="echo" data-ready-state={readyState} onSubmit={submit}>
      <input name="text" />
      <output id="echoed">{lastMessage?.data}</output>
    </form>
  );
}

/** A zustand store whose theme every document of the app shares, with useBroadcastSync. */
const usePrefs = create((set) => ({ theme: 'light', setTheme: (theme) => set({ theme }) }));

// What the documents post on the sync's channel, as a raw listener hears it (window.syncBus).
window.syncBus = [];
new BroadcastChannel('broadcast-websocket/sync fixture').onmessage = ({ data }) => window.syncBus.push(data);

function SyncedTheme() {
  const sync = useBroadcastSync(usePrefs, { channelName: 'fixture', syncKeys: ['theme'] });
  const theme = usePrefs((state) => state.theme);
  const setTheme = usePrefs((state) => state.setTheme);
  return (
    <form
      id="sync"
      data-theme={theme}
      data-leader={String(sync.isLeader())}
      data-tabs={sync.getConnectedTabs()}
      data-id={sync.getTabId()}
      onSubmit={(event) => {
        event.preventDefault();
        setTheme(new FormData(event.currentTarget).get('text'));
      }}
    >
      <input name="text" />
    </form>
  );
}

/** Counts its effect's runs (window.effectRuns): 2 on mount shows StrictMode ran the double mount. */
function StrictModeProbe() {
  useEffect(() => {
    window.effectRuns = (window.effectRuns ?? 0) + 1;
  }, []);
  return null;
}

function Toggle({ id, checked, onChange }) {
  return (
    <label>
      <input type="checkbox" id={id} checked={checked} onChange={(event) => onChange(event.target.checked)} />
      {id}
    </label>
  );
}

function App() {
  const [connected, setConnected] = useState(true);
  const [chat, setChat] = useState(true);
  const [news, setNews] = useState(params.has('news'));
  const [synced, setSynced] = useState(params.has('sync'));
  const frames = Number(params.get('frames') ?? 0);
  const frameQuery = new URLSearchParams(params);
  frameQuery.delete('frames');
  frameQuery.delete('news');
  return (
    <>
      <StrictModeProbe />
      <Toggle id="connected" checked={connected} onChange={setConnected} />
      <Toggle id="show-chat" checked={chat} onChange={setChat} />
      <Toggle id="show-news" checked={news} onChange={setNews} />
      <Toggle id="show-sync" checked={synced} onChange={setSynced} />
      {synced && <SyncedTheme />}
      {connected && (
        <BroadcastProvider url={params.get('ws')}>
          <SocketState />
          {chat && <Feed channel="chat" />}
          {news && <Feed channel="news" />}
          <Sender />
          <Echo url={params.get('echo')} />
        </BroadcastProvider>
      )}
      {Array.from({ length: frames }, (_, k) => (
        <iframe key={k} name={`frame-${k}`} title={`frame ${k}`} src={`?${frameQuery}`} />
      ))}
    </>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
