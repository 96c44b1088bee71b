/**
 * Choosing one image among those a source lists: by ref, then by platform. Pure.
 */
import type { Digest } from '../digest.js';
import { imageError } from './types.js';

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** One image of a source: a manifest, with the ref and platform it was listed under. */
export interface ImageRef {
  /** `org.opencontainers.image.ref.name` of an OCI layout, or a Docker RepoTag (`busybox:latest`). */
  ref?: string;
  /** An OCI layout's `io.containerd.image.name` (the full name: `docker.io/library/busybox:1.36`), where it has one. */
  name?: string;
  manifestDigest: Digest;
  platform?: PlatformSpec;
  /** The manifest's media type, as its descriptor says. */
  mediaType: string;
}

/** Node's process.arch in the OCI (GOARCH) names, with the variant where there is a usual one. */
export function hostPlatform(arch: string = process.arch): PlatformSpec {
  const map: Record<string, PlatformSpec> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
    loong64: { os: 'linux', architecture: 'loong64' },
    mips: { os: 'linux', architecture: 'mips' },
    mipsel: { os: 'linux', architecture: 'mipsle' },
  };
  return map[arch] ?? { os: 'linux', architecture: arch };
}

/** The variant an image means when it names none (containerd's normalisation): arm64 is v8. */
function variantOf(p: PlatformSpec): string | undefined {
  if (p.variant !== undefined && p.variant !== '') return p.variant;
  return p.architecture === 'arm64' ? 'v8' : undefined;
}

export const formatPlatform = (p: PlatformSpec | undefined): string =>
  p === undefined ? '(no platform)' : `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

/**
 * Whether an image for `have` runs as `want`. A wanted variant must match (after normalisation);
 * with none wanted, any variant of the os/architecture does.
 */
export function platformMatches(have: PlatformSpec, want: PlatformSpec): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const w = want.variant === undefined || want.variant === '' ? undefined : variantOf(want);
  return w === undefined || variantOf(have) === w;
}

/**
 * The image `ref` names (all of them when `ref` is undefined and the source holds one ref), for
 * `platform` (the running one by default). A ref that is a digest (`sha256:…`) names a manifest.
 * A single image listed without a platform is taken as it is (resolve() then checks its config).
 */
export function selectImage(images: readonly ImageRef[], label: string, ref: string | undefined, platform: PlatformSpec | undefined): ImageRef {
  const refs = [...new Set(images.map((i) => i.ref))];
  const listRefs = () => refs.map((r) => (r === undefined ? '(no ref)' : r)).join(', ') || '(none)';
  let candidates: ImageRef[];
  if (ref === undefined) {
    if (images.length === 0) throw imageError(`${label}: holds no image`);
    if (refs.length > 1) throw imageError(`${label}: holds several images, name one: ${listRefs()}`, { field: 'ref' });
    candidates = [...images];
  } else {
    candidates = images.filter((i) => i.ref === ref);
    if (candidates.length === 0 && /^sha256:[a-f0-9]{64}$/.test(ref)) candidates = images.filter((i) => i.manifestDigest === ref);
    if (candidates.length === 0) throw imageError(`${label}: no image '${ref}'; it holds: ${listRefs()}`, { field: 'ref' });
  }
  // One image listed without a platform: the platform is checked against its config later.
  if (candidates.length === 1 && candidates[0]!.platform === undefined) return candidates[0]!;
  const want = platform ?? hostPlatform();
  const matching = candidates.filter((c) => c.platform !== undefined && platformMatches(c.platform, want));
  if (matching.length === 0) {
    const have = candidates.map((c) => formatPlatform(c.platform)).join(', ');
    throw imageError(`${label}: ${ref === undefined ? 'the image' : `'${ref}'`} has no manifest for ${formatPlatform(want)}; it has: ${have}`, { field: 'platform' });
  }
  // Among several (linux/arm64 and linux/arm64/v8, say), the one whose variant is exactly the one asked.
  return matching.find((c) => (c.platform!.variant ?? '') === (want.variant ?? '')) ?? matching[0]!;
}
