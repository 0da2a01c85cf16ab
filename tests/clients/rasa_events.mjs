// A stock Rasa socket.io client in Node (socket.io-client from npm): session_request ->
// session_confirm, user_uttered -> bot_uttered, as rasa-webchat does it. Prints one JSON
// object per line: {"event": ..., "data": ...}. Usage: node rasa_events.mjs URL TEXT...
// Each TEXT is sent after the replies to the previous one have arrived (quiet for 1 s);
// at the end the client reconnects with its session id and prints the confirmation.
import { io } from 'socket.io-client';

const [url, ...texts] = process.argv.slice(2);
const print = (event, data) => process.stdout.write(JSON.stringify({ event, data }) + '\n');

function connect() {
  return io(url, { path: '/socket.io', transports: ['websocket'], reconnection: false, forceNew: true });
}

function once(socket, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (data) => { clearTimeout(timer); resolve(data); });
  });
}

async function quietFor(socket, ms, firstWithin = 15000) {
  // Collect bot_uttered frames until none came for `ms` (the first may take a while).
  const frames = [];
  await new Promise((resolve) => {
    let timer = setTimeout(resolve, firstWithin);
    socket.on('bot_uttered', (data) => {
      frames.push(data);
      clearTimeout(timer);
      timer = setTimeout(resolve, ms);
    });
  });
  socket.off('bot_uttered');
  return frames;
}

const socket = connect();
await once(socket, 'connect');
socket.emit('session_request', { session_id: null });
const sessionId = await once(socket, 'session_confirm');
print('session_confirm', sessionId);
for (const text of texts) {
  const collecting = quietFor(socket, 1000);
  socket.emit('user_uttered', { message: text, session_id: sessionId, customData: { language: 'it' } });
  for (const frame of await collecting) print('bot_uttered', frame);
}
socket.close();

const again = connect();
await once(again, 'connect');
again.emit('session_request', { session_id: sessionId });
print('session_confirm_again', await once(again, 'session_confirm'));
again.close();
