/**
 * A command line split into words as a POSIX shell splits it, without expanding anything:
 * blanks separate words; 'single quotes' keep everything literally; "double quotes" keep
 * everything but \" \\ \$ \` and a backslash-newline; a backslash outside quotes keeps the next
 * character; a # that starts a word starts a comment. No variables, globs, tildes or
 * substitutions: `$HOME` is those five characters. Pure: `ovl batch` reads its lines with it.
 */

export class WordsError extends Error {}

export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new WordsError('unterminated single quote');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        const d = line[j]!;
        if (d === '\\' && j + 1 < line.length && '"\\$`\n'.includes(line[j + 1]!)) {
          if (line[j + 1] !== '\n') word += line[j + 1];
          j++;
        } else {
          word += d;
        }
      }
      if (j >= line.length) throw new WordsError('unterminated double quote');
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new WordsError('a backslash at the end of the line');
      if (line[i + 1] !== '\n') {
        word += line[i + 1];
        inWord = true;
      }
      i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
