import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError, messageOf } from './cli-error.js';

/**
 * Start listening, turning the usual failures (port taken, no permission, no such address) into
 * one line that says what to change. Resolves with the base URL.
 */
export async function listenOn(server: Server, port: number, host: string, what: string): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'EADDRINUSE') {
      throw new CliError(`${what}: port ${port} on ${host} is already in use (pick another with --port)`);
    }
    if (code === 'EACCES') throw new CliError(`${what}: no permission to listen on port ${port}`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new CliError(`${what}: cannot listen on ${host}: no such local address`);
    }
    throw new CliError(`${what}: cannot listen on ${host}:${port}: ${messageOf(error)}`, { cause: error });
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shownHost}:${address.port}`;
}
