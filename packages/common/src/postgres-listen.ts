import pg from 'pg';

/** The first wait before a lost LISTEN connection is made again; it doubles up to the longest. */
const FIRST_RETRY_MS = 250;
const LONGEST_RETRY_MS = 5000;

/**
 * Calls `onNotify` with the payload of each NOTIFY on `channel`, on a connection of its own (not
 * the pool's: a LISTEN holds its connection for good) that comes back by itself after the server
 * does; `onReconnect` is called each time it does, since notifications sent meanwhile were missed.
 */
export function listenForNotifications(
  config: pg.ClientConfig,
  channel: string,
  onNotify: (payload: string) => void,
  onReconnect?: () => void,
): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = FIRST_RETRY_MS;
  let timer: NodeJS.Timeout | undefined;
  const reconnectLater = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect(true);
    }, retryMs);
    retryMs = Math.min(retryMs * 2, LONGEST_RETRY_MS);
  };
  const connect = async (again: boolean) => {
    const next = new pg.Client({ ...config, query_timeout: undefined });
    client = next;
    next.on('error', () => {
      void next.end().catch(() => undefined);
      if (client === next) reconnectLater();
    });
    next.on('notification', (message) => onNotify(message.payload ?? ''));
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
      retryMs = FIRST_RETRY_MS;
      if (closed) await next.end();
      else if (again) onReconnect?.();
    } catch {
      void next.end().catch(() => undefined);
      if (client === next) reconnectLater();
    }
  };
  void connect(false);
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
