import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/**
 * got's `agent` option for a client that keeps its connections open between requests: up to
 * `maxSockets` per host, as many as it sends at once, so no request pays for a TCP handshake.
 */
export function keepAliveAgents(maxSockets: number): { http: HttpAgent; https: HttpsAgent } {
  const pool = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
  return { http: new HttpAgent(pool), https: new HttpsAgent(pool) };
}
