/**
 * The store's commands (ovl image import/history/tag/rm, container, volume, system): docker's
 * commands and words over the library's layer store (src/store). dispatch.ts spreads this table
 * into its own. Each command's code is loaded only when it runs, wrapped by storeCommand(): a
 * failure prints `Error: MESSAGE` and exits 1, as docker's do (bad usage too: troubleCode).
 */
import { EXIT_STORE_FAILURE, JSON_OPTION, ROOT_OPTION, storeCommand, type CommandInfo, type Run } from './command.js';

/** What every store command takes. */
const STORE_OPTIONS = { ...ROOT_OPTION, ...JSON_OPTION };
const ROOT_USAGE = '  --root DIR           the store (default: $OVL_ROOT, else /var/lib/ovl for root, else $XDG_DATA_HOME/ovl)';

/** An entry that does not touch the store (login, logout): docker's failures, no --root. */
function plainEntry(summary: string, usage: string[], options: CommandInfo['options'], load: () => Promise<Run>): CommandInfo {
  return { summary, usage: usage.join('\n'), options: { ...options, ...JSON_OPTION }, load: async () => storeCommand(await load()), troubleCode: EXIT_STORE_FAILURE };
}

/** An entry of the table: the store's options added, its failures docker's. */
function entry(summary: string, usage: string[], options: CommandInfo['options'], load: () => Promise<Run>): CommandInfo {
  return {
    summary,
    usage: [...usage, ROOT_USAGE].join('\n'),
    options: { ...options, ...STORE_OPTIONS },
    load: async () => storeCommand(await load()),
    troubleCode: EXIT_STORE_FAILURE,
  };
}

const image = () => import('./commands/image.js');
const container = () => import('./commands/container.js');
const volume = () => import('./commands/volume.js');
const system = () => import('./commands/system.js');
const registry = () => import('./commands/registry.js');

const REGISTRY_OPTIONS = { 'insecure-registry': { type: 'string' as const, multiple: true }, authfile: { type: 'string' as const } };
const REGISTRY_USAGE = [
  '  --insecure-registry HOST[:PORT]  plain HTTP (or HTTPS unchecked) for that registry, as docker\'s insecure-registries',
  '                       (localhost and 127.0.0.0/8 always may); repeat for several',
  '  --authfile FILE      credentials file (default: $REGISTRY_AUTH_FILE, containers/auth.json, ~/.docker/config.json)',
];

/** One line each in `ovl --help`: what the group is about (its commands are listed after it). */
export const storeGroups: Record<string, string> = {
  container: "the store's containers (writable layers over images, mounted with their volumes and tmpfs)",
  volume: "the store's named volumes",
  system: "the store's disk use, and removing what nothing uses",
};

export const storeCommands: Record<string, CommandInfo> = {
  pull: entry(
    'pull an image from a registry into the store (docker pull)',
    [
      'ovl pull NAME[:TAG|@DIGEST] [--platform os/arch[/variant]] [-q] [--json]',
      '  NAME                 as docker names it: busybox, user/app, registry.example:5000/app',
      "  --platform P         the image for platform P of a multi-platform image (default: this machine's)",
      '  -q, --quiet          print only the full reference',
      ...REGISTRY_USAGE,
    ],
    { platform: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, ...REGISTRY_OPTIONS },
    async () => (await registry()).pullCommand,
  ),
  push: entry(
    'push an image of the store to a registry (docker push)',
    [
      'ovl push IMAGE [NAME[:TAG]] [-q] [--json]',
      '  IMAGE                an image of the store (a name or an id); pushed to NAME[:TAG], else to its own name',
      '  -q, --quiet          print only the full reference',
      ...REGISTRY_USAGE,
    ],
    { quiet: { type: 'boolean', short: 'q' }, ...REGISTRY_OPTIONS },
    async () => (await registry()).pushCommand,
  ),
  login: plainEntry(
    'log in to a registry: check the credentials, keep them in ~/.docker/config.json (docker login)',
    [
      'ovl login [SERVER] [-u USER] [--password-stdin | -p PASSWORD]',
      '  SERVER               default: Docker Hub',
      '  -u, --username USER',
      '  --password-stdin     read the password from stdin (asked on a terminal when neither is given)',
      ...REGISTRY_USAGE,
    ],
    { username: { type: 'string', short: 'u' }, password: { type: 'string', short: 'p' }, 'password-stdin': { type: 'boolean' }, ...REGISTRY_OPTIONS },
    async () => (await registry()).loginCommand,
  ),
  snapshotter: entry(
    "serve the store to containerd as a snapshotter (a proxy plugin) until SIGTERM",
    [
      'ovl snapshotter --socket PATH [--root DIR] [--quiet]',
      '  --socket PATH        the unix socket containerd is told of: [proxy_plugins.ovl] type = "snapshot" address = "PATH"',
      '  --quiet              no log line per call (the log goes to stderr)',
      '  --health             ask the snapshotter at PATH whether it serves (prints SERVING, exit 0)',
    ],
    { socket: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, health: { type: 'boolean' } },
    async () => (await import('./commands/snapshotter.js')).snapshotterCommand,
  ),
  logout: plainEntry(
    'forget the credentials kept for a registry (docker logout)',
    ['ovl logout [SERVER]   (default: Docker Hub)', '  --authfile FILE      the credentials file'],
    { authfile: { type: 'string' } },
    async () => (await registry()).logoutCommand,
  ),
  'image import': entry(
    'import images from an OCI layout, an oci-archive or a docker save archive into the store (docker load)',
    [
      'ovl image import SOURCE[:REF] [--tag NAME[:TAG]] [--all] [--platform os/arch[/variant]] [--json]',
      '  SOURCE               an OCI layout directory, an oci-archive or a docker save archive; REF: the image in it',
      '  --tag NAME[:TAG]     tag the image so (default: its name in the source, when that is a full name)',
      '  --all                every image of SOURCE',
      '  --platform P         the image for platform P of a multi-platform index (default: this machine\'s)',
    ],
    { tag: { type: 'string', short: 't' }, all: { type: 'boolean', short: 'a' }, platform: { type: 'string' } },
    async () => (await image()).importCommand,
  ),
  'image history': entry(
    "an image's history, newest first (docker history)",
    ['ovl image history IMAGE [--no-trunc] [--json]'],
    { 'no-trunc': { type: 'boolean' } },
    async () => (await image()).history,
  ),
  'image inspect': entry(
    'images as docker image inspect shows them: a JSON array',
    ['ovl image inspect IMAGE...   (the output is always JSON)'],
    {},
    async () => (await image()).inspect,
  ),
  'image tag': entry('give an image another name (docker tag)', ['ovl image tag SOURCE TARGET   (SOURCE: a name or an id; TARGET: NAME[:TAG])'], {}, async () => (await image()).tag),
  'image save': entry(
    'write images into an OCI layout directory, each layer rebuilt byte for byte (docker save; the same image ids)',
    [
      'ovl image save IMAGE... -o DIR [--gzip] [--json]',
      '  -o, --output DIR     the OCI layout to write (made if missing; images already there stay)',
      '  --gzip               gzip the layer blobs (default: plain tars, as docker save)',
    ],
    { output: { type: 'string', short: 'o' }, gzip: { type: 'boolean' } },
    async () => (await image()).save,
  ),
  'image rm': entry(
    'remove images, or a tag of an image that has others (docker rmi)',
    ['ovl image rm IMAGE... [-f] [--json]', '  -f, --force          remove an image a container uses (its layers stay while the container does)'],
    { force: { type: 'boolean', short: 'f' } },
    async () => (await image()).rm,
  ),
  'container create': entry(
    "create a container: a writable layer over IMAGE; prints its id (docker create)",
    [
      'ovl container create IMAGE [--name NAME] [-v SRC:/path[:ro]]... [--tmpfs /path[:size=64m,mode=1777]]... [--json]',
      '  -v, --volume SRC:/path[:ro|rw]   a named volume (made when missing) or a host directory, mounted with the container',
      '  --tmpfs /path[:OPTIONS]           a tmpfs mounted with the container (size=N[k|m|g|%], mode=OCTAL)',
      '  --userns-map IN:OUT:COUNT         run in a user namespace: ids IN.. in the image are the host\'s OUT.. (uids and gids; repeat for more)',
      '  --uidmap / --gidmap IN:OUT:COUNT  the same for uids or gids only (podman\'s spelling)',
      "  --userns auto                     65536 ids of what /etc/subuid and /etc/subgid grant 'containers', no other container's (podman's)",
      '  The image\'s layers are mounted idmapped (one copy for every container); the writable layer holds the host\'s ids.',
    ],
    {
      name: { type: 'string' },
      volume: { type: 'string', short: 'v', multiple: true },
      tmpfs: { type: 'string', multiple: true },
      userns: { type: 'string' },
      'userns-map': { type: 'string', multiple: true },
      uidmap: { type: 'string', multiple: true },
      gidmap: { type: 'string', multiple: true },
    },
    async () => (await container()).create,
  ),
  'container ls': entry(
    'list the containers: CONTAINER ID, IMAGE, CREATED, STATUS (Mounted or Created), NAMES (docker ps -a)',
    ['ovl container ls [-a] [-q] [--no-trunc] [--json]', '  -a, --all            accepted (every container is listed)', '  -q, --quiet          only the ids'],
    { all: { type: 'boolean', short: 'a' }, quiet: { type: 'boolean', short: 'q' }, 'no-trunc': { type: 'boolean' } },
    async () => (await container()).ls,
  ),
  'container mount': entry(
    "mount containers with their volumes and tmpfs; prints each merged dir (podman mount); none named: the mounted ones",
    ['ovl container mount [NAME...] [--json]'],
    {},
    async () => (await container()).mount,
  ),
  'container umount': entry(
    'unmount containers: their volumes and tmpfs, then the overlay (podman umount)',
    ['ovl container umount NAME... [-l] [--json]', '  -l, --lazy           detach now; each mount goes when its last user does'],
    { lazy: { type: 'boolean', short: 'l' } },
    async () => (await container()).umount,
  ),
  'container diff': entry(
    "a container's changes against its image: A added, C changed, D deleted (docker diff)",
    ['ovl container diff NAME [--json]'],
    {},
    async () => (await container()).diff,
  ),
  'container commit': entry(
    "a new image of a container's changes; prints its id (docker commit)",
    ['ovl container commit NAME [REF] [-m MESSAGE] [-a AUTHOR] [--json]', '  REF                  tag the new image so (NAME[:TAG])'],
    { message: { type: 'string', short: 'm' }, author: { type: 'string', short: 'a' } },
    async () => (await container()).commit,
  ),
  'container rm': entry(
    'remove containers and their writable layers; their named volumes stay (docker rm)',
    ['ovl container rm NAME... [-f] [--json]', '  -f, --force          unmount a mounted container first'],
    { force: { type: 'boolean', short: 'f' } },
    async () => (await container()).rm,
  ),
  'container inspect': entry(
    'containers as JSON: their layers (GraphDriver), mounts and state (docker inspect)',
    ['ovl container inspect NAME...   (the output is always JSON)'],
    {},
    async () => (await container()).inspect,
  ),
  'volume create': entry(
    'create a named volume; prints its name (docker volume create)',
    ['ovl volume create [NAME] [--label KEY=VALUE]... [--json]'],
    { label: { type: 'string', multiple: true } },
    async () => (await volume()).create,
  ),
  'volume ls': entry('list the volumes (docker volume ls)', ['ovl volume ls [-q] [--json]'], { quiet: { type: 'boolean', short: 'q' } }, async () => (await volume()).ls),
  'volume rm': entry(
    'remove volumes (docker volume rm)',
    ['ovl volume rm NAME... [-f] [--json]', '  -f, --force          remove a volume a container names (it is made again, empty, when that mounts)'],
    { force: { type: 'boolean', short: 'f' } },
    async () => (await volume()).rm,
  ),
  'volume prune': entry(
    'remove the volumes no container names: anonymous ones, or every one with -a (docker volume prune)',
    [
      'ovl volume prune [-a] [-f] [--json]',
      '  -a, --all            named volumes too (without it, only those made without a name)',
      '  -f, --force          do not ask (it asks only when stdin is a terminal)',
    ],
    { all: { type: 'boolean', short: 'a' }, force: { type: 'boolean', short: 'f' } },
    async () => (await volume()).prune,
  ),
  'volume inspect': entry('volumes as JSON (docker volume inspect)', ['ovl volume inspect NAME...   (the output is always JSON)'], {}, async () => (await volume()).inspect),
  'system df': entry(
    "what the store's images, containers and volumes take on disk, and what could be reclaimed (docker system df)",
    [
      'ovl system df [-v] [--verify] [--json]',
      '  -v, --verbose        each image, container and volume',
      "  --verify             measure every layer and container again, and warn where a layer's record is wrong",
    ],
    { verbose: { type: 'boolean', short: 'v' }, verify: { type: 'boolean' } },
    async () => (await system()).df,
  ),
  'system prune': entry(
    'remove unmounted containers, dangling images and every layer nothing uses (docker system prune)',
    ['ovl system prune [-f] [--json]', '  -f, --force          do not ask (it asks only when stdin is a terminal)'],
    { force: { type: 'boolean', short: 'f' } },
    async () => (await system()).prune,
  ),
};
