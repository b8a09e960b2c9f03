/**
 * The three undici classes the export uses, imported from their own modules rather than from
 * undici's index: the index also loads fetch, WebSocket, EventSource, the cache and the mocks,
 * twice the code, which every run (and every `--help`) paid for in start-up time (~85 ms of
 * CPU per start on this project's 2-core machine). undici is pinned in package.json; its
 * index does exactly this wiring (the request API assigned onto Dispatcher.prototype), and
 * test/unit/undici-parts.test.ts checks the classes are the index's own.
 */
import type * as Undici from 'undici';
import api from 'undici/lib/api/index.js';
import ClientImpl from 'undici/lib/dispatcher/client.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
import PoolImpl from 'undici/lib/dispatcher/pool.js';
import ProxyAgentImpl from 'undici/lib/dispatcher/proxy-agent.js';

Object.assign(DispatcherImpl.prototype, api);

export const Pool = PoolImpl as typeof Undici.Pool;
export const ProxyAgent = ProxyAgentImpl as typeof Undici.ProxyAgent;
export const Client = ClientImpl as typeof Undici.Client;
export type Dispatcher = Undici.Dispatcher;
