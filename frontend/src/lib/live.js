// The live stream: Server-Sent Events from /events, one event per MQTT message (`event:` is the
// kind, `data:` the message JSON as published).
//
// EventSource reconnects by itself after a network error; it gives up only when the server
// answers with an error status or a wrong content type, and then we retry ourselves with a
// capped backoff. `onState` hears `connecting`, `live` and `reconnecting`; `onResync` is called
// after each reconnection, because messages sent while we were away are lost and the caller
// must fetch the current state again.

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * Listens to `url`; `handlers` maps an event kind (`aggregate`, `status`, `alert`, `reading`)
 * to a function of the parsed message. Returns a function that closes the stream.
 */
export function connectLive(url, handlers, { onState, onResync }) {
  let source = null;
  let retryMs = RETRY_MIN_MS;
  let timer = null;
  let wasOpen = false;

  function open() {
    onState(wasOpen ? 'reconnecting' : 'connecting');
    source = new EventSource(url);
    source.onopen = () => {
      retryMs = RETRY_MIN_MS;
      onState('live');
      if (wasOpen) onResync();
      wasOpen = true;
    };
    source.onerror = () => {
      onState(wasOpen ? 'reconnecting' : 'connecting');
      if (source.readyState === EventSource.CLOSED) {
        timer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    };
    for (const [kind, handle] of Object.entries(handlers)) {
      source.addEventListener(kind, (event) => {
        // An alert cleared from the broker arrives as an empty retained message: ignore it,
        // like any message that is not JSON.
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (message && typeof message === 'object') handle(message);
      });
    }
  }

  open();
  return () => {
    clearTimeout(timer);
    source?.close();
  };
}
