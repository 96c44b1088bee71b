/**
 * login and logout, as `docker login HOST` and `docker logout HOST`: the credentials are
 * checked against the registry first (GET /v2/ answering its challenge with them), then kept in
 * Docker's config file (or the auth file named), where pull and push find them.
 */
import { removeCredentials, storeCredentials, type AuthFileOptions, type Credentials } from './auth.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { DOCKER_HUB } from './reference.js';
import { OverlaySpecError } from '../spec/errors.js';

export interface LoginOptions extends Omit<ClientOptions, 'credentials'> {}

/** The registry a login names: `docker.io` when none is given; a URL's host (`https://ghcr.io/` is ghcr.io). */
export function loginDomain(server: string | undefined): string {
  if (server === undefined || server === '') return DOCKER_HUB;
  const host = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === '' || /\s/.test(host)) throw new OverlaySpecError([{ field: 'server', problem: `'${server}' is not a registry host` }]);
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** Checks `credentials` against the registry, then stores them; the file they went to. */
export async function login(server: string | undefined, credentials: Credentials, options: LoginOptions = {}): Promise<{ domain: string; file: string }> {
  if (typeof credentials?.username !== 'string' || credentials.username === '') throw new OverlaySpecError([{ field: 'username', problem: 'must be a non-empty string' }]);
  if (typeof credentials.password !== 'string' || credentials.password === '') throw new OverlaySpecError([{ field: 'password', problem: 'must be a non-empty string' }]);
  const domain = loginDomain(server);
  const client = new RegistryClient(domain, { ...options, credentials });
  try {
    await client.ping();
  } finally {
    client.close();
  }
  const file = await storeCredentials(domain, credentials, options as AuthFileOptions);
  return { domain, file };
}

/** Forgets the credentials kept for a registry; whether there were any. */
export function logout(server: string | undefined, options: AuthFileOptions = {}): Promise<boolean> {
  return removeCredentials(loginDomain(server), options);
}
