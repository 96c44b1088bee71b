/**
 * The store's commands (ovl image import/history/tag/rm): docker's
 * commands and words over the library's layer store (src/store). dispatch.ts spreads this table
 * into its own. Each command's code is loaded only when it runs, wrapped by storeCommand(): a
 * failure prints `Error: MESSAGE` and exits 1, as docker's do (bad usage too: troubleCode).
 */
import { EXIT_STORE_FAILURE, JSON_OPTION, ROOT_OPTION, storeCommand, type CommandInfo, type Run } from './command.js';

/** What every store command takes. */
const STORE_OPTIONS = { ...ROOT_OPTION, ...JSON_OPTION };
const ROOT_USAGE = '  --root DIR           the store (default: $OVL_ROOT, else /var/lib/ovl for root, else $XDG_DATA_HOME/ovl)';

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

/** One line each in `ovl --help`: what the group is about (its commands are listed after it). */
export const storeGroups: Record<string, string> = {};

export const storeCommands: Record<string, CommandInfo> = {
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
  'image tag': entry('give an image another name (docker tag)', ['ovl image tag SOURCE TARGET   (SOURCE: a name or an id; TARGET: NAME[:TAG])'], {}, async () => (await image()).tag),
  'image rm': entry(
    'remove images, or a tag of an image that has others (docker rmi)',
    ['ovl image rm IMAGE... [-f] [--json]', '  -f, --force          remove an image a container uses (its layers stay while the container does)'],
    { force: { type: 'boolean', short: 'f' } },
    async () => (await image()).rm,
  ),
};
