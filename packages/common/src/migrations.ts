import { readdirSync, readFileSync } from 'node:fs';

/** One numbered step of a schema: `NNN-name.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The numbered steps in `folder` (`001-name.sql`, ...), in order. */
export function loadMigrations(folder: URL): Migration[] {
  return readdirSync(folder)
    .filter((file) => /^\d+-[\w-]+\.sql$/.test(file))
    .map((file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(new URL(file, folder), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
}

/** The version a schema has once every step is applied; 0 when there are none. */
export const latestVersion = (migrations: readonly Migration[]): number => migrations.at(-1)?.version ?? 0;
