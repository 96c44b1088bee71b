/**
 * `ovl batch`: many ovl command lines in one process, so a CI job that mounts an overlay per test
 * pays Node's start once. Each line runs through the same dispatcher as `ovl ...` on the command
 * line, with its output captured; one result line per command goes to stdout (with --json, one
 * JSON object per line). The first failure stops the batch unless --keep-going; the exit code
 * is the last failure's.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { EXIT_USAGE, takeFailure, UsageError, type Values } from '../command.js';
import { run } from '../dispatch.js';
import { stdio, withSink } from '../output.js';
import { splitWords, WordsError } from '../words.js';

const REFUSED = new Set(['batch']);

interface Result {
  line: number;
  command: string[];
  status: number;
  stdout: string;
  stderr: string;
  error?: unknown;
}

/** Whether an export's words name an output file (-o FILE, --output FILE, --output=FILE), not '-'. */
function writesToFile(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = a === '-o' || a === '--output' ? args[i + 1] : a.startsWith('--output=') ? a.slice('--output='.length) : a.startsWith('-o') && a.length > 2 ? a.slice(2) : undefined;
    if (value !== undefined) return value !== '' && value !== '-';
  }
  return false;
}

async function runLine(words: string[], fromStdin: boolean): Promise<Omit<Result, 'line' | 'command'>> {
  let stdout = '';
  let stderr = '';
  const sink = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
  if (fromStdin && words[0] === 'layer' && words[1] === 'apply' && words.slice(2).includes('-')) {
    return { status: EXIT_USAGE, stdout, stderr: "ovl batch: 'layer apply -' reads stdin, which holds the batch's own commands: give a file\n" };
  }
  if (words[0] === 'layer' && words[1] === 'export' && !writesToFile(words.slice(2))) {
    return { status: EXIT_USAGE, stdout, stderr: "ovl batch: 'layer export' without -o FILE writes the tar to stdout, which carries the batch's results: give -o FILE\n" };
  }
  takeFailure();
  const status = await withSink(sink, () => run(words, { refuse: REFUSED }));
  const error = takeFailure();
  return { status, stdout, stderr, ...(error ? { error } : {}) };
}

export async function batch(v: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`batch takes no arguments (the commands come from stdin or -f FILE): '${positionals[0]}'`);
  const file = v.file as string | undefined;
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  const fromStdin = input === process.stdin;
  const json = v.json === true;
  const keepGoing = v['keep-going'] === true;
  let lastFailure = 0;
  let n = 0;
  // A missing -f FILE fails the batch (the stream's error ends the loop below with it).
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      n++;
      let words: string[];
      let r: Omit<Result, 'line' | 'command'> | undefined;
      try {
        words = splitWords(text);
      } catch (e) {
        if (!(e instanceof WordsError)) throw e;
        words = [text];
        r = { status: EXIT_USAGE, stdout: '', stderr: `ovl batch: line ${n}: ${e.message}\n` };
      }
      if (words[0] === 'ovl') words = words.slice(1);
      if (words.length === 0) continue;
      r ??= await runLine(words, fromStdin);
      if (json) {
        stdio('stdout').write(JSON.stringify({ line: n, command: words, ...r }) + '\n');
      } else {
        stdio('stdout').write(r.stdout);
        stdio('stderr').write(r.stderr);
        const first = r.stderr.split('\n')[0];
        stdio('stdout').write(r.status === 0 ? `line ${n}: ok\n` : `line ${n}: exit ${r.status}${first ? `: ${first}` : ''}\n`);
      }
      if (r.status !== 0) {
        lastFailure = r.status;
        if (!keepGoing) break;
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return lastFailure;
}
