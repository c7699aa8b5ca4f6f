/**
 * A switchable TCP proxy in front of a stand-in: the simplest honest outage. While down, open
 * connections are cut and new ones are refused at once, as when a service is unreachable. It can
 * also lose answers: the request reaches the service and is applied, the connection is cut before
 * the reply gets back. And it can partition: nothing is refused or cut, nothing answers either,
 * so a caller finds out only through its own timeouts.
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
   * (spread out, so that no caller meets a lasting outage); 0 relays all again. The count runs
   * over every connection: a caller that retries among traffic of its own rhythm can meet a cut
   * reply on try after try, for as long as `count` lasts.
   */
  loseReplies(count: number, every?: number): void;
  /** Replies lost so far. */
  readonly lostReplies: number;
  /**
   * A partition: new connections are accepted and never forwarded, open ones are frozen (nothing
   * relayed either way). Nobody is refused or cut, as when packets are dropped between a caller
   * and a service, or a front end accepts connections for a back end that is gone.
   */
  partition(): void;
  /**
   * Ends the partition: new connections go through again. The connections it froze or held stay
   * silent for good, as connections whose far end has forgotten them: a caller that uses one
   * again waits on it until its own timeout.
   */
  heal(): void;
  readonly isPartitioned: boolean;
  /** Connections open when a partition began, frozen by it. */
  readonly frozen: number;
  /** Connections accepted during a partition, never forwarded. */
  readonly held: number;
  /** Requests (chunks of data) sent into a frozen or held connection after the partition healed. */
  readonly sentToDeadConnections: number;
  stop(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port: targetPort } = new URL(target);
  // One client socket per connection, and an upstream one while it is relayed.
  const clients = new Set<Socket>();
  const upstreams = new Set<Socket>();
  let isUp = true;
  let refused = 0;
  let toLose = 0;
  let lossEvery = 1;
  let sinceLoss = 0;
  let lostReplies = 0;
  let isPartitioned = false;
  let frozen = 0;
  let held = 0;
  let sentToDeadConnections = 0;
  /** Each relayed connection's way to freeze it. */
  const freezers = new Set<() => void>();
  /** Keeps a connection open and silent for good: what it is sent is read and dropped, and counted once healed. */
  const deaden = (client: Socket) => {
    client.on('data', () => {
      if (!isPartitioned) sentToDeadConnections++;
    });
    client.on('error', () => client.destroy());
    client.resume();
  };
  const server: Server = createServer((client) => {
    if (!isUp) {
      refused++;
      client.destroy();
      return;
    }
    clients.add(client);
    client.on('close', () => clients.delete(client));
    if (isPartitioned) {
      held++;
      deaden(client);
      return;
    }
    const upstream = connect(Number(targetPort), hostname);
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on('error', cut);
    const freeze = () => {
      frozen++;
      client.unpipe(upstream);
      client.removeListener('error', cut);
      // The far side forgets the connection; the caller is told nothing.
      upstream.removeAllListeners('data');
      upstream.removeAllListeners('end');
      upstream.removeListener('error', cut);
      upstream.on('error', () => undefined);
      upstream.destroy();
      deaden(client);
    };
    freezers.add(freeze);
    client.on('close', () => freezers.delete(freeze));
    upstream.on('close', () => freezers.delete(freeze));
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
      refused += clients.size;
      for (const socket of [...clients, ...upstreams]) socket.destroy();
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
    partition() {
      isPartitioned = true;
      for (const freeze of [...freezers]) freeze();
      freezers.clear();
    },
    heal() {
      isPartitioned = false;
    },
    get isPartitioned() {
      return isPartitioned;
    },
    get frozen() {
      return frozen;
    },
    get held() {
      return held;
    },
    get sentToDeadConnections() {
      return sentToDeadConnections;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of [...clients, ...upstreams]) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
