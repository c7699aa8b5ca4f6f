/**
 * A switchable TCP proxy in front of a stand-in: the simplest honest outage. While down, open
 * connections are cut and new ones are refused at once, as when a service is unreachable.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly endpoint: string;
  readonly port: number;
  /** Cuts every open connection and refuses new ones until `up()`. */
  down(): void;
  up(): void;
  readonly isUp: boolean;
  /** Connections refused or cut while down: the failures this proxy injected. */
  readonly refused: number;
  stop(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let isUp = true;
  let refused = 0;
  const server: Server = createServer((client) => {
    if (!isUp) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const { protocol } = new URL(target);
  return {
    endpoint: `${protocol}//127.0.0.1:${port}`,
    port,
    down() {
      isUp = false;
      refused += sockets.size / 2;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isUp = true;
    },
    get isUp() {
      return isUp;
    },
    get refused() {
      return refused;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
