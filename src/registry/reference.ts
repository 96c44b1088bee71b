/**
 * Image references as Docker writes them: `[host[:port]/]path[:tag][@sha256:…]`, with Docker
 * Hub's defaults (`busybox` is `docker.io/library/busybox:latest`, served by
 * registry-1.docker.io). Pure: distribution's reference grammar, no I/O.
 */
import { isDigest, type Digest } from '../oci/digest.js';
import { OverlaySpecError } from '../spec/errors.js';

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's API is (docker.io and index.docker.io are its names, not its API host). */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageReference {
  /** The registry as named (`docker.io`, `127.0.0.1:5000`, `ghcr.io`). */
  domain: string;
  /** The repository path on it (`library/busybox`, `app/web`). */
  repository: string;
  /** The tag: as written, or `latest` when neither a tag nor a digest is given. */
  tag?: string;
  digest?: Digest;
  /** The repository as Docker prints it (`busybox`, `user/app`, `127.0.0.1:5000/app`). */
  familiar: string;
  /** The API host (`registry-1.docker.io` for Docker Hub, else `domain`). */
  apiHost: string;
}

// distribution/reference: path components of lowercase alphanumerics joined by . _ __ or dashes.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/** Parses a reference; OverlaySpecError naming `field` and the problem when it is not one. */
export function parseReference(ref: string, field = 'reference'): ImageReference {
  const bad = (problem: string) => new OverlaySpecError([{ field, problem: `'${ref}' ${problem}` }]);
  if (typeof ref !== 'string' || ref === '') throw new OverlaySpecError([{ field, problem: 'must be a non-empty image reference ([host[:port]/]name[:tag][@sha256:…])' }]);
  if (ref.length > 512) throw bad('is longer than 512 characters');
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad('has a digest that is not sha256:<64 hex digits>');
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('has an invalid tag (letters, digits, _ . -; at most 128, not starting with . or -)');
  }
  // The first component is a registry when it looks like a host: a dot, a port, localhost, or
  // capitals (which a repository cannot have), as distribution decides it.
  let domain = DOCKER_HUB;
  let path = rest;
  const first = rest.indexOf('/');
  if (first > 0) {
    const head = rest.slice(0, first);
    if (/[.:]/.test(head) || head === 'localhost' || head !== head.toLowerCase()) {
      if (!DOMAIN.test(head)) throw bad(`has an invalid registry host '${head}'`);
      domain = head;
      path = rest.slice(first + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DOCKER_HUB;
  if (path === '') throw bad('names no repository');
  if (path !== path.toLowerCase()) throw bad('has capitals in its repository name (repository names are lowercase)');
  if (!path.split('/').every((c) => COMPONENT.test(c))) throw bad('is not a valid repository name (lowercase letters, digits, and . _ - between them, / between components)');
  const hub = domain === DOCKER_HUB;
  const repository = hub && !path.includes('/') ? `library/${path}` : path;
  if (domain.length + 1 + repository.length > 255) throw bad('has a name longer than 255 characters');
  const familiar = hub ? repository.replace(/^library\//, '') : `${domain}/${repository}`;
  return {
    domain,
    repository,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
    familiar,
    apiHost: hub ? DOCKER_HUB_API : domain,
  };
}

/** The reference written in full: `docker.io/library/busybox:latest`, `host:5000/app@sha256:…`. */
export function formatReference(r: Pick<ImageReference, 'domain' | 'repository' | 'tag' | 'digest'>): string {
  return `${r.domain}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** The store's name for a reference's tag (`busybox:latest`, `127.0.0.1:5000/app:1`); none for a digest-only one. */
export function storeName(r: ImageReference): string | undefined {
  return r.tag === undefined ? undefined : `${r.familiar}:${r.tag}`;
}

/** Docker's RepoDigest for a manifest of the reference's repository: `busybox@sha256:…`. */
export function repoDigest(r: ImageReference, manifestDigest: Digest): string {
  return `${r.familiar}@${manifestDigest}`;
}
