import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Where the status page's files are, from this module in src/http (tests) or dist/http (built):
 * the HTML and the style sheet as written, the script as the build compiles it from
 * middleware/web/status-page.ts.
 */
export const statusPageFiles = {
  html: new URL('../../public/status-page.html', import.meta.url),
  css: new URL('../../public/status-page.css', import.meta.url),
  script: new URL('../../dist/web/status-page.js', import.meta.url),
} as const;

function readPageFile(file: URL): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `The status page's file ${fileURLToPath(file)} cannot be read (the script exists only after npm run build)`,
      { cause: error },
    );
  }
}

/** The status page (GET /), its style sheet and its script (GET /assets/status-page.{css,js}), read once at start. */
export const statusPage = {
  html: readPageFile(statusPageFiles.html),
  css: readPageFile(statusPageFiles.css),
  script: readPageFile(statusPageFiles.script),
} as const;
