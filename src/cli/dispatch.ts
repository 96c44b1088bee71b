/**
 * The ovl commands: what each is called, its options for util.parseArgs, its usage, and where its
 * code is (loaded only when it runs, so a command pays for its own imports and no other's).
 * run() parses one command line and runs it, returning its exit code: it never exits the
 * process, so `ovl batch` runs many command lines through it in one process.
 */
import { parseArgs } from 'node:util';
import { EXIT_USAGE, JSON_OPTION, printFailure, ROOT_OPTION, UsageError, type CommandInfo } from './command.js';
import { err, out, table } from './output.js';
import { storeCommands, storeGroups } from './store-commands.js';

const commands: Record<string, CommandInfo> = {
  demo: {
    summary: 'walk through a three-layer image: build, mount, read, write, delete, inspect, unmount',
    usage: 'ovl demo',
    options: {},
    load: async () => (await import('./commands/demo.js')).runDemo,
  },
  mount: {
    summary: 'mount an overlay (mount(8) syntax, or --lower/--upper/--work); -o remount,... changes its attributes',
    usage: [
      'ovl mount [-t overlay] [overlay] -o lowerdir=A:B,upperdir=U,workdir=W [-o more ...] TARGET',
      'ovl mount --lower A --lower B [--data D ...] [--upper U --work W] [--option key[=value] ...] TARGET',
      'ovl mount -o remount,ro|rw|nosuid|... TARGET',
      '  -r / -w                          read-only / read-write (as -o ro / -o rw); -n is accepted and ignored',
      '  --strategy lowerdir+|fd|legacy   force a mount strategy',
      '  --dry-run                        validate, print the plan (the exact syscalls), mount nothing',
      '  --allow-shared                   mount even if upper/work is in use by another overlay',
      '  --clear-volatile                 remove a stale work/incompat/volatile first',
      '  --idmap IN:OUT:COUNT             idmapped lower layers: ids IN.. on disk show as OUT.. (uids and gids; repeat for more ranges)',
      '  --uidmap / --gidmap IN:OUT:COUNT the same for uids or gids only (podman\'s spelling)',
      '  --json                           print the plan (with --dry-run), the mount, or the failure as JSON',
      '  -v, --verbose                    say what was mounted; warnings; on failure the stage, strategy and hint',
      '  -f, --fake                       validate and plan, mount nothing (the plan is printed with -v)',
      '  --options-mode MODE              accepted as mount(8) takes it (no fstab is read: every mode is the same)',
      'ovl mount [-t overlay]             list the overlay mounts as `mount -t overlay` prints them',
      'In mount(8)\'s syntax (-o lowerdir=...) a failure\'s first line is mount(8)\'s, and success is silent;',
      'LIBMOUNT_FORCE_MOUNT2=always in the environment means --strategy legacy (mount(2)), as it does for mount(8).',
    ].join('\n'),
    options: {
      types: { type: 'string', short: 't' },
      options: { type: 'string', short: 'o', multiple: true },
      readonly: { type: 'boolean', short: 'r' },
      readwrite: { type: 'boolean', short: 'w' },
      'no-mtab': { type: 'boolean', short: 'n' },
      lower: { type: 'string', multiple: true },
      data: { type: 'string', multiple: true },
      upper: { type: 'string' },
      work: { type: 'string' },
      option: { type: 'string', multiple: true },
      strategy: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'allow-shared': { type: 'boolean' },
      'clear-volatile': { type: 'boolean' },
      idmap: { type: 'string', multiple: true },
      uidmap: { type: 'string', multiple: true },
      gidmap: { type: 'string', multiple: true },
      verbose: { type: 'boolean', short: 'v' },
      fake: { type: 'boolean', short: 'f' },
      'options-mode': { type: 'string' },
      ...JSON_OPTION,
    },
    load: async () => (await import('./commands/mount.js')).mount,
  },
  umount: {
    summary: 'unmount overlays',
    usage: [
      'ovl umount TARGET... [-l] [-R] [-v] [--clean-workdir] [--json]   (overlays only: use umount(8) for anything else)',
      '  -l, --lazy          detach now; the overlay goes when its last user does (umount -l)',
      '  -R, --recursive     first unmount what is mounted beneath the overlay, innermost first (umount -R)',
      '  -v, --verbose       say what was unmounted',
      '  --clean-workdir     then remove the kernel\'s work/ and index/ from the work dir',
      '  exit: 0 when every TARGET is unmounted, else the sum of 32 per failed one (as umount(8))',
    ].join('\n'),
    options: {
      lazy: { type: 'boolean', short: 'l' },
      recursive: { type: 'boolean', short: 'R' },
      verbose: { type: 'boolean', short: 'v' },
      'clean-workdir': { type: 'boolean' },
      ...JSON_OPTION,
    },
    load: async () => (await import('./commands/umount.js')).umount,
  },
  batch: {
    summary: 'run many commands (mount, umount, ...) from stdin or a file in one process: one result line each',
    usage: [
      'ovl batch [-f FILE] [--keep-going] [--json]',
      '  one command per line in ovl\'s own syntax without the `ovl` (`mount -o lowerdir=/a:/b /m`, `umount /m`);',
      '  words split as a shell splits them (\'single\', "double" quotes and \\ escapes; nothing is expanded);',
      '  blank lines and lines starting with # are skipped',
      '  -f, --file FILE     read the commands from FILE (default: stdin)',
      '  --keep-going        run every line; without it the first failure stops the batch',
      '  --json              one JSON object per line: { line, command, status, stdout, stderr, error }',
      '  exit: 0 when every command succeeded, else the exit code of the last one that failed',
    ].join('\n'),
    options: { file: { type: 'string', short: 'f' }, 'keep-going': { type: 'boolean' }, ...JSON_OPTION },
    load: async () => (await import('./commands/batch.js')).batch,
  },
  ls: {
    summary: 'list the overlay mounts of this mount namespace',
    usage: 'ovl ls [--json]',
    options: JSON_OPTION,
    load: async () => (await import('./commands/read.js')).ls,
  },
  inspect: {
    summary: "an overlay's layers as docker inspect prints GraphDriver.Data (--typed: every option)",
    usage: 'ovl inspect TARGET [--typed] [--json]   (the output is always JSON)',
    options: { typed: { type: 'boolean' }, ...JSON_OPTION },
    load: async () => (await import('./commands/read.js')).inspect,
  },
  which: {
    summary: 'which layer serves PATH in the overlay at TARGET',
    usage: 'ovl which TARGET PATH [--json]   (exit 0 found, 1 not found or whited out, 2 trouble: not an overlay, bad usage, any failure)',
    options: JSON_OPTION,
    load: async () => (await import('./commands/layers.js')).which,
    troubleCode: 2,
  },
  diff: {
    summary: 'the A/C/D changes of an upper dir (or of the overlay mounted at TARGET), like docker diff',
    usage: 'ovl diff TARGET | ovl diff UPPER --lower L1 [--lower L2 ...]  [--json] [--namespace trusted|user|auto]',
    options: { lower: { type: 'string', multiple: true }, namespace: { type: 'string' }, ...JSON_OPTION },
    load: async () => (await import('./commands/layers.js')).diff,
  },
  probe: {
    summary: "what this kernel's overlay can do",
    usage: ['ovl probe [--json]', "ovl probe --idmap PATH... [--json]   whether layers at PATH can be idmapped (the filesystem's answer, asked)"].join('\n'),
    options: { idmap: { type: 'string', multiple: true }, ...JSON_OPTION },
    load: async () => (await import('./commands/probe.js')).probe,
  },
  whiteout: {
    summary: 'make whiteouts (0/0 character devices; --xattr: the xattr form for a middle lower layer)',
    usage: 'ovl whiteout PATH... [--xattr] [--namespace trusted|user]',
    options: { xattr: { type: 'boolean' }, namespace: { type: 'string' } },
    load: async () => (await import('./commands/layers.js')).whiteout,
  },
  opaque: {
    summary: 'mark a directory opaque (y), as an xwhiteout dir (--value x), or --clear the mark',
    usage: 'ovl opaque DIR... [--clear] [--value y|x] [--namespace trusted|user]',
    options: { clear: { type: 'boolean' }, value: { type: 'string' }, namespace: { type: 'string' } },
    load: async () => (await import('./commands/layers.js')).opaque,
  },
  bind: {
    summary: 'bind-mount SOURCE at TARGET (a volume beside an overlay); -r read-only from the start',
    usage: 'ovl bind SOURCE TARGET [-r] [--recursive] [--json]   (unmount with umount(8), or ovl umount for an overlay)',
    options: { readonly: { type: 'boolean', short: 'r' }, recursive: { type: 'boolean', short: 'R' }, ...JSON_OPTION },
    load: async () => (await import('./commands/volumes.js')).bind,
  },
  'layer apply': {
    summary: 'apply an OCI layer (tar, tar.gz, tar.zst; - for stdin) onto DIR: whiteouts become overlay markers',
    usage: [
      'ovl layer apply LAYER DIR [--xattr-whiteouts] [--namespace trusted|user] [--flatten] [--diff-id sha256:...] [--digest sha256:...] [--json]',
      '  --xattr-whiteouts    write whiteouts as xattr-marked files instead of 0/0 devices',
      '  --namespace user     overlay markers as user.overlay.* (an overlay mounted with -o userxattr)',
      '  --flatten            apply onto a root filesystem: whiteouts delete, opaque markers empty their dir',
      '  --diff-id, --digest  fail (and keep nothing) unless the tar / the blob has this sha256',
    ].join('\n'),
    options: {
      'xattr-whiteouts': { type: 'boolean' },
      namespace: { type: 'string' },
      flatten: { type: 'boolean' },
      'diff-id': { type: 'string' },
      digest: { type: 'string' },
      'media-type': { type: 'string' },
      ...JSON_OPTION,
    },
    load: async () => (await import('./commands/layer.js')).apply,
  },
  'layer export': {
    summary: "an upper dir's changes against its lowers as an OCI layer tar (stdout, or -o FILE); its diffID on stderr",
    usage: [
      'ovl layer export UPPER --lower L1 [--lower L2 ...] [-o FILE] [--gzip|--zstd] [--reproducible] [--namespace trusted|user|auto] [--json]',
      '  --lower L            the lower layers, top first (as lowerdir=)',
      '  --reproducible       the same changes give the same bytes: mtimes clamped to SOURCE_DATE_EPOCH (or 0), sorted names',
    ].join('\n'),
    options: {
      lower: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o' },
      gzip: { type: 'boolean' },
      zstd: { type: 'boolean' },
      reproducible: { type: 'boolean' },
      namespace: { type: 'string' },
      ...JSON_OPTION,
    },
    load: async () => (await import('./commands/layer.js')).exportCommand,
  },
  'image ls': {
    summary: "the store's images (docker images); with SOURCE, the images of an OCI layout, an oci-archive or a docker save archive",
    usage: [
      'ovl image ls [-q] [--no-trunc] [--root DIR] [--json]   the store\'s: REPOSITORY TAG IMAGE ID CREATED SIZE (docker images)',
      'ovl image ls SOURCE [--json]                          a layout\'s or an archive\'s: refs, platforms, manifests',
      '  -q, --quiet          only the image ids',
      '  --no-trunc           the full image ids',
      '  --root DIR           the store (default: $OVL_ROOT, else /var/lib/ovl for root, else $XDG_DATA_HOME/ovl)',
      '  exit: 1 when listing the store fails (docker\'s), 32 when reading SOURCE does',
    ].join('\n'),
    options: { quiet: { type: 'boolean', short: 'q' }, 'no-trunc': { type: 'boolean' }, ...ROOT_OPTION, ...JSON_OPTION },
    load: async () => (await import('./commands/image.js')).ls,
  },
  'image unpack': {
    summary: "unpack an image: one dir per layer under DIR (and the lowerdir to mount them), or --flatten into DIR",
    usage: [
      'ovl image unpack SOURCE[:REF] DIR [--ref REF] [--platform os/arch[/variant]] [--flatten] [--xattr-whiteouts] [--namespace trusted|user] [--json]',
      '  SOURCE               an OCI layout directory, an oci-archive or a docker save archive',
      '  --flatten            every layer into DIR, whiteouts applied: a root filesystem for a chroot',
    ].join('\n'),
    options: {
      ref: { type: 'string' },
      platform: { type: 'string' },
      flatten: { type: 'boolean' },
      'xattr-whiteouts': { type: 'boolean' },
      namespace: { type: 'string' },
      ...JSON_OPTION,
    },
    load: async () => (await import('./commands/image.js')).unpack,
  },
  tmpfs: {
    summary: 'mount a tmpfs at TARGET (scratch space, or an upper and work that go with the mount)',
    usage: 'ovl tmpfs TARGET [--size 64m|10%|BYTES] [--mode 1777] [--json]',
    options: { size: { type: 'string' }, mode: { type: 'string' }, ...JSON_OPTION },
    load: async () => (await import('./commands/volumes.js')).tmpfs,
  },
  // The layer store's commands: image import/history/tag/rm, container, volume, system.
  ...storeCommands,
};

/** Command groups: `ovl layer apply` is the command 'layer apply'. */
const GROUPS = new Set(Object.keys(commands).filter((k) => k.includes(' ')).map((k) => k.split(' ')[0]!));

/** What each group is about, for `ovl --help` (one line each, its commands named after it). */
const GROUP_SUMMARIES: Record<string, string> = {
  layer: 'OCI layer tars into layer directories and back',
  image: "images in the store (docker's commands), or in an OCI layout or archive (ls SOURCE, unpack)",
  ...storeGroups,
};

/** The commands of `group`, without the group's name: ['apply', 'export']. */
const groupCommands = (group: string): string[] => Object.keys(commands).filter((k) => k.startsWith(`${group} `)).map((k) => k.slice(group.length + 1));

function help(): void {
  out('ovl: the Linux overlay filesystem from the command line\n');
  const rows = Object.entries(commands)
    .filter(([name]) => !name.includes(' '))
    .map(([name, c]) => [`  ${name}`, c.summary]);
  for (const g of GROUPS) rows.push([`  ${g} COMMAND`, `${groupCommands(g).join(', ')}: ${GROUP_SUMMARIES[g] ?? g}`]);
  out(table(rows).join('\n'));
  out('\nThe store (image, container, volume, system) is at --root DIR, else $OVL_ROOT, else /var/lib/ovl (root).');
  out('Run `ovl COMMAND --help` for its options (`ovl GROUP` lists its commands); `ovl --version` for the version.');
}

export interface RunOptions {
  /** The package's version, for --version. */
  version?: () => string;
  /** Commands refused here (`ovl batch` inside a batch). */
  refuse?: ReadonlySet<string>;
}

/** The version as the process's entry gave it (also for --version in a batch line). */
let versionOf: (() => string) | undefined;

/** Runs one ovl command line (without the `ovl`); resolves with its exit code. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  versionOf ??= options.version;
  let [name, ...rest] = argv;
  if (name !== undefined && GROUPS.has(name)) {
    const sub = rest[0];
    if (sub === undefined || sub.startsWith('-')) {
      const group = name;
      out(`ovl ${group}: ${GROUP_SUMMARIES[group] ?? ''}; one of\n`);
      out(table(Object.entries(commands).filter(([k]) => k.startsWith(`${group} `)).map(([k, c]) => [`  ${k}`, c.summary])).join('\n'));
      return sub === '--help' || sub === '-h' ? 0 : EXIT_USAGE;
    }
    name = `${name} ${sub}`;
    rest = rest.slice(1);
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    help();
    return 0;
  }
  if (name === '--version' || name === '-V') {
    out(`ovl ${versionOf?.() ?? 'unknown'}`);
    return 0;
  }
  const cmd = Object.hasOwn(commands, name) && !options.refuse?.has(name) ? commands[name] : undefined;
  if (!cmd) {
    err(`ovl: ${options.refuse?.has(name) ? `'${name}' cannot run here` : `unknown command '${name}'`}`);
    if (!options.refuse) help();
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    err(`ovl ${name}: ${(e as Error).message}\nusage: ${cmd.usage}`);
    return cmd.troubleCode ?? EXIT_USAGE;
  }
  try {
    const runCommand = await cmd.load();
    return (await runCommand(parsed.values, parsed.positionals)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`ovl ${name}: ${e.message}\nusage: ${cmd.usage}`);
      return cmd.troubleCode ?? EXIT_USAGE;
    }
    const code = printFailure(e);
    return cmd.troubleCode ?? code;
  }
}
