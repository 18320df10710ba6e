import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface SwitchablePath {
  /** `url` with its host and port replaced by the path's own. */
  url: string;
  /** Drops every connection through the path and refuses new ones: the server has gone away. */
  cut(): void;
  /** Lets connections through again: the server is back. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP path to the server `url` names (a database server, in the tests of an outage), which the
 * test can cut and restore while the client under test keeps its own configuration.
 */
export async function switchablePath(url: string): Promise<SwitchablePath> {
  const target = new URL(url);
  let cut = false;
  const sockets = new Set<Socket>();
  const proxy = createServer((socket) => {
    if (cut) return socket.destroy();
    const upstream = createConnection(Number(target.port), target.hostname);
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.on('error', () => undefined);
      end.on('close', () => {
        socket.destroy();
        upstream.destroy();
        sockets.delete(end);
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((proxy.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    cut() {
      cut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      cut = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: a server that is down. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
