/** Processes as /proc shows them, read independently of the library. No side effects at import. */
import { readdirSync, readFileSync } from 'node:fs';

/** Each process's `/proc/PID/<file>`, read now ([pid, content]); a process gone meanwhile is skipped. */
export function* procFiles(file: string): Generator<[pid: string, content: string]> {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      yield [pid, readFileSync(`/proc/${pid}/${file}`, 'utf8')];
    } catch {
      /* gone meanwhile */
    }
  }
}

/** This process's children, from /proc: `PID STATE COMM` (a zombie's state is Z). */
export function childProcesses(): string[] {
  const out: string[] = [];
  for (const [pid, stat] of procFiles('stat')) {
    // "pid (comm) state ppid ...": the comm may hold spaces and parentheses; the last ')' ends it.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid) out.push(`${pid} ${state} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`);
  }
  return out;
}
