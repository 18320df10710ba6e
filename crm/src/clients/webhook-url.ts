import { BlockList, isIP } from 'node:net';

/**
 * What makes a URL one the CRM may call, checked when an endpoint is made (a 400) and again at
 * each send (an endpoint stored before a rule existed is held to it too).
 */

/** The longest url an endpoint may have. */
export const MAX_URL_LENGTH = 2048;

/** Link-local addresses: the cloud metadata service (169.254.169.254) and its kind; never called. */
const linkLocal = new BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocal.addSubnet('fe80::', 10, 'ipv6');

/** Whether `address` (an IP address; anything else is not) is link-local; BlockList counts IPv4-mapped IPv6 too. */
export function isLinkLocal(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && linkLocal.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why `url` cannot be a webhook endpoint, or undefined when it can. */
export function urlProblem(url: string): string | undefined {
  if (url.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an absolute http:// or https:// URL';
  if (parsed.username !== '' || parsed.password !== '')
    return 'must not carry credentials (user:password@): they would be sent to whoever answers';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isLinkLocal(host)) return `must not point at a link-local address (${host}), such as a cloud metadata service`;
  return undefined;
}
