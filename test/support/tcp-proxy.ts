/**
 * A switchable TCP proxy in front of a stand-in: the simplest honest outage. While down, open
 * connections are cut and new ones are refused at once, as when a service is unreachable. It can
 * also lose answers: the request reaches the service and is applied, the connection is cut before
 * the reply gets back.
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
  /**
   * Cuts the connection instead of relaying `count` of the replies to come, one in every `every`
   * (spread out, so that no caller meets a lasting outage); 0 relays all again.
   */
  loseReplies(count: number, every?: number): void;
  /** Replies lost so far. */
  readonly lostReplies: number;
  stop(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let isUp = true;
  let refused = 0;
  let toLose = 0;
  let lossEvery = 1;
  let sinceLoss = 0;
  let lostReplies = 0;
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
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (toLose > 0 && ++sinceLoss >= lossEvery) {
        sinceLoss = 0;
        toLose--;
        lostReplies++;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
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
    loseReplies(count, every = 1) {
      toLose = count;
      lossEvery = every;
      sinceLoss = 0;
    },
    get lostReplies() {
      return lostReplies;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
