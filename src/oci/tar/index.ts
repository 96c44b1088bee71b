/** The tar codec of OCI layers: a push parser (parse.ts) and a header encoder (write.ts). */
export { TarParser, type TarParserOptions, type TarSink } from './parse.js';
export { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryInput } from './write.js';
export type { TarEntry, TarEntryType } from './header.js';
