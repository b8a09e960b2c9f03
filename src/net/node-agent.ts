import * as http from 'node:http';
import * as https from 'node:https';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, type AgentConnectOpts } from 'agent-base';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { proxyFor, type Env, type ProxyRoute } from './proxy-env.js';
import { proxyUnreachable, tunnelRefused } from './proxy-errors.js';

/**
 * How long the proxy has to open a tunnel. The SDK's connectionTimeout starts only once a socket
 * is handed over, after the CONNECT: without this a proxy that never answers would hang S3.
 */
export const TUNNEL_TIMEOUT_MS = 10_000;

/** The AWS SDK's own default: keep-alive, at most 50 sockets per host. */
const AGENT_OPTIONS: http.AgentOptions = { keepAlive: true, maxSockets: 50 };

/**
 * A node:http(s) agent for the AWS SDK that decides per request, from the environment, whether
 * to tunnel through the proxy (https-proxy-agent: CONNECT, then TLS for https endpoints) or to
 * connect directly (NO_PROXY). The SDK reads no proxy variables itself. Tunnelled sockets are
 * pooled with keep-alive like direct ones: one CONNECT serves many requests.
 * A refused tunnel is a ProxyError (one line, exit 2), not the proxy's HTML page given to the SDK
 * as if S3 had answered it.
 */
export class EnvProxyAgent extends Agent {
  private readonly direct = { http: new http.Agent(AGENT_OPTIONS), https: new https.Agent(AGENT_OPTIONS) };
  private readonly tunnels = new Map<string, HttpsProxyAgent<string>>();

  constructor(
    private readonly env: Env = process.env,
    private readonly tunnelTimeoutMs = TUNNEL_TIMEOUT_MS,
  ) {
    super(AGENT_OPTIONS);
  }

  async connect(req: http.ClientRequest, opts: AgentConnectOpts): Promise<Duplex | http.Agent> {
    const host = opts.host ?? 'localhost';
    const target = new URL(`${opts.secureEndpoint ? 'https' : 'http'}://${isIPv6(host) ? `[${host}]` : host}:${opts.port}`);
    const route = proxyFor(target, this.env);
    if (!route) return opts.secureEndpoint ? this.direct.https : this.direct.http;
    const tunnel = this.tunnelAgent(route);
    let answer: { statusCode: number; statusText: string } | undefined;
    const onConnect = (c: { statusCode: number; statusText: string }) => (answer = c);
    req.once('proxyConnect', onConnect);
    let socket: Duplex;
    let timer: NodeJS.Timeout | undefined;
    const connecting = tunnel.connect(req, opts);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The tunnel may still open later: close it then.
        void connecting.then((s) => s.destroy(), () => undefined);
        reject(Object.assign(new Error(`no answer to CONNECT within ${this.tunnelTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, this.tunnelTimeoutMs);
    });
    try {
      socket = await Promise.race([connecting, timeout]);
    } catch (err) {
      throw proxyUnreachable(route, err);
    } finally {
      clearTimeout(timer);
      req.off('proxyConnect', onConnect);
    }
    if (answer && answer.statusCode !== 200) {
      socket.destroy();
      throw tunnelRefused(route, `${target.hostname}:${opts.port}`, answer.statusCode, answer.statusText);
    }
    return socket;
  }

  private tunnelAgent(route: ProxyRoute): HttpsProxyAgent<string> {
    let agent = this.tunnels.get(route.proxy.href);
    if (!agent) {
      agent = new HttpsProxyAgent(route.proxy.href, AGENT_OPTIONS);
      this.tunnels.set(route.proxy.href, agent);
    }
    return agent;
  }

  override destroy(): void {
    super.destroy();
    this.direct.http.destroy();
    this.direct.https.destroy();
    for (const t of this.tunnels.values()) t.destroy();
  }
}
